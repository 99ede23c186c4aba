using OneDiff.Data.Formats;

namespace OneDiff.Data.Readers;

/// <summary>Builds DiffCap records from a dataset's folder layout as its authors ship it.</summary>
public abstract class DatasetReader
{
    public abstract string Name { get; }

    /// <summary>Reads one split; bad records go through <paramref name="report"/> (error or skip).</summary>
    public abstract List<DiffCapRecord> Read(string root, ReadOptions options, DataReport report);

    protected string PromptOf(ReadOptions o) => o.Prompt ?? TaskPrompts.For(Name);

    /// <summary>An image path inside the root: the first candidate that exists, else (when not
    /// checking images) the first candidate; reports a missing image.</summary>
    protected static string? Image(string root, string record, ReadOptions o, DataReport report, params string[] candidates)
    {
        string? first = null;
        foreach (var c in candidates)
        {
            var full = DatasetPaths.Resolve(root, c, record, report);
            if (full is null) return null;
            first ??= full;
            if (!o.CheckImages || File.Exists(full)) return o.CheckImages ? full : first;
        }
        report.Problem(record, first, "image file is missing");
        return null;
    }

    protected static string Annotation(string root, params string[] candidates)
    {
        foreach (var c in candidates)
        {
            var p = Path.Combine(root, c);
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException($"{root}: annotation file not found (looked for {string.Join(", ", candidates)})");
    }

    protected static List<string> CleanCaptions(IEnumerable<string?> captions) =>
        captions.Where(c => !string.IsNullOrWhiteSpace(c)).Select(c => c!.Trim()).ToList();

    /// <summary>All readers by format name (the names <c>onediff data inspect --format</c> takes).</summary>
    public static readonly IReadOnlyDictionary<string, Func<DatasetReader>> Formats = new Dictionary<string, Func<DatasetReader>>
    {
        ["spot-the-diff"] = () => new SpotTheDiffReader(),
        ["clevr-change"] = () => new ClevrChangeReader(),
        ["image-editing-request"] = () => new ImageEditingRequestReader(),
        ["birds-to-words"] = () => new BirdsToWordsReader(),
        ["nlvr2"] = () => new Nlvr2Reader(),
        ["instructpix2pix"] = () => new InstructPix2PixReader(),
        ["diffcap"] = () => new DiffCapReader(),
        ["synthetic"] = () => new DiffCapReader(),
    };

    public static DatasetReader ForFormat(string name) =>
        Formats.TryGetValue(name, out var make) ? make()
            : throw new ArgumentException($"unknown dataset format '{name}' ({string.Join(", ", Formats.Keys)})", nameof(name));
}

/// <summary>The DiffCap JSON-lines format: root/{split}.jsonl.</summary>
public sealed class DiffCapReader : DatasetReader
{
    public override string Name => "diffcap";

    public override List<DiffCapRecord> Read(string root, ReadOptions options, DataReport report)
    {
        string file = File.Exists(root) ? root : Annotation(root, $"{options.Split}.jsonl");
        var records = DiffCapJsonl.Read(file, report);
        if (options.CheckImages)
            records = records.Where(r =>
            {
                foreach (var p in new[] { r.Image1, r.Image2 })
                    if (!File.Exists(p)) { report.Problem($"id {r.Id}", p, "image file is missing"); return false; }
                return true;
            }).ToList();
        return options.Prompt is null ? records : records.Select(r => r with { Prompt = options.Prompt }).ToList();
    }
}
