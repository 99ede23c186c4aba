using System.CommandLine;
using System.Globalization;
using OneDiff.Data;
using OneDiff.Data.Formats;
using OneDiff.Data.Images;
using OneDiff.Data.Readers;

namespace OneDiff.Cli.Commands;

/// <summary>
/// The many pairs a command reads: a pairs file (<c>--pairs</c>) or a dataset split
/// (<c>--format --root --split</c>). Every image is decoded once before a long run starts, so a bad
/// file stops the command at once, naming its record and file (or, with <c>--skip-bad</c>, is
/// skipped and listed) instead of failing hours into generation.
/// </summary>
internal sealed class PairInputs
{
    public Option<string?> Pairs { get; } = new("--pairs")
    {
        Description = "a file of pairs: .jsonl DiffCap lines ({\"id\", \"image1\", \"image2\", \"prompt\"}), or lines 'before<TAB>after[<TAB>id]'; paths relative to the file",
    };
    public Option<string> Format { get; } = DatasetSplitOptions.FormatOption(required: false);
    public Option<string?> Root { get; } = new("--root") { Description = "the dataset folder, laid out as its authors ship it" };
    public Option<string> Split { get; } = new("--split") { Description = "split name", DefaultValueFactory = _ => "test" };
    public Option<bool> SkipBad { get; } = new("--skip-bad") { Description = "skip bad records and images, listing each on stderr, instead of stopping at the first" };

    readonly bool _allowPairsFile;

    public PairInputs(bool allowPairsFile) => _allowPairsFile = allowPairsFile;

    public IEnumerable<Option> All => _allowPairsFile ? [Pairs, Format, Root, Split, SkipBad] : [Format, Root, Split, SkipBad];

    /// <summary>Whether any of these options is on the command line (a default does not count).</summary>
    public bool AnyGiven(ParseResult parse) => All.Any(o => parse.GetResult(o) is { Implicit: false });

    /// <summary>Whether the command line names a pairs file or a dataset.</summary>
    public bool Given(ParseResult parse) => parse.GetValue(Format) is not null || parse.GetValue(Root) is not null || (_allowPairsFile && parse.GetValue(Pairs) is not null);

    /// <summary>The records, every image checked; skipped records are listed on <paramref name="log"/>.
    /// Throws <see cref="UsageException"/> for a wrong combination of options, DataException for bad input.</summary>
    public List<DiffCapRecord> Read(ParseResult parse, string? prompt, TextWriter log)
    {
        string? pairs = _allowPairsFile ? parse.GetValue(Pairs) : null, format = parse.GetValue(Format), root = parse.GetValue(Root);
        if (pairs is not null && (format is not null || root is not null))
            throw new UsageException("give either --pairs FILE or --format and --root, not both");
        if (pairs is null && (format is null || root is null))
            throw new UsageException(_allowPairsFile ? "give --pairs FILE, or --format and --root (with --split)" : "give --format and --root (with --split)");
        var report = new DataReport(parse.GetValue(SkipBad) ? BadInputMode.Skip : BadInputMode.Error);
        string source = pairs ?? $"{format} {parse.GetValue(Split)} ({root})";

        var records = pairs is not null
            ? ReadPairsFile(pairs, report)
            : DatasetReader.ForFormat(format!).Read(root!, new ReadOptions { Split = parse.GetValue(Split)!, Prompt = prompt }, report);
        if (pairs is not null && prompt is not null) records = records.Select(r => r with { Prompt = prompt }).ToList();
        records = Distinct(records, source, report);
        records = Decodable(records, report);

        foreach (var p in report.Skipped) log.WriteLine($"skipped: {p}");
        if (report.Skipped.Count > 0) log.WriteLine($"{source}: skipped {report.Skipped.Count} problem(s); {records.Count} pair(s) left");
        if (records.Count == 0) throw new DataException(new DataProblem(source, pairs ?? root, "no pairs to caption"));
        return records;
    }

    static List<DiffCapRecord> ReadPairsFile(string path, DataReport report)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"pairs file not found: {path}", path);
        var records = path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)
            ? DiffCapJsonl.Read(path, report, requireCaptions: false)
            : ReadTabSeparated(path, report);
        return records.Where(r =>
        {
            foreach (var image in new[] { r.Image1, r.Image2 })
                if (!File.Exists(image)) { report.Problem($"id {r.Id}", image, "image file is missing"); return false; }
            return true;
        }).ToList();
    }

    /// <summary>'before&lt;TAB&gt;after[&lt;TAB&gt;id]' lines; blank lines and lines starting with '#' are skipped.</summary>
    static List<DiffCapRecord> ReadTabSeparated(string path, DataReport report)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var records = new List<DiffCapRecord>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line) || line.TrimStart().StartsWith('#')) continue;
            var fields = line.Split('\t');
            string where = $"{Path.GetFileName(path)} line {lineNo}";
            if (fields.Length is < 2 or > 3 || fields.Take(2).Any(string.IsNullOrWhiteSpace))
            {
                report.Problem(where, path, "expected 'before<TAB>after' or 'before<TAB>after<TAB>id'");
                continue;
            }
            string id = fields.Length == 3 && !string.IsNullOrWhiteSpace(fields[2]) ? fields[2].Trim() : lineNo.ToString(CultureInfo.InvariantCulture);
            string a = Path.GetFullPath(Path.Combine(folder, fields[0].Trim())), b = Path.GetFullPath(Path.Combine(folder, fields[1].Trim()));
            if (new[] { a, b }.FirstOrDefault(f => !File.Exists(f)) is { } missing) { report.Problem($"{where} (id {id})", missing, "image file is missing"); continue; }
            records.Add(new DiffCapRecord(id, a, b, "", [], "diffcap", Source: where));
        }
        return records;
    }

    // Results are keyed by id: two pairs under one id would overwrite each other's caption.
    static List<DiffCapRecord> Distinct(List<DiffCapRecord> records, string source, DataReport report)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        return records.Where(r =>
        {
            if (seen.Add(r.Id)) return true;
            report.Problem($"id {r.Id}", r.Source ?? source, "the id is used by an earlier pair too");
            return false;
        }).ToList();
    }

    // A bad file is named once by the check but may serve several pairs (CLEVR-Change's "before"
    // image serves its change and its no-change pair): each of them goes.
    static List<DiffCapRecord> Decodable(List<DiffCapRecord> records, DataReport report)
    {
        var problems = ImageCheck.Problems(records.Select(r => (r, ImageInput.FromPath(r.Image1), ImageInput.FromPath(r.Image2))));
        if (problems.Count == 0) return records;
        var bad = problems.Where(p => p.File is not null).GroupBy(p => p.File!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Message, StringComparer.Ordinal);
        return records.Where(r =>
        {
            foreach (var image in new[] { r.Image1, r.Image2 })
                if (bad.TryGetValue(image, out var message)) { report.Problem($"id {r.Id}", image, message); return false; }
            return true;
        }).ToList();
    }
}
