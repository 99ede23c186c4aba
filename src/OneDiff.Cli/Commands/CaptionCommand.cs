using System.CommandLine;
using System.Diagnostics;
using OneDiff.Cli.Terminal;
using OneDiff.Data;
using OneDiff.Data.Images;
using OneDiff.Metrics;
using OneDiff.MLNet;

namespace OneDiff.Cli.Commands;

/// <summary>
/// <c>onediff caption</c>: caption your own pair (<c>--before A --after B</c>), a file of pairs
/// (<c>--pairs</c>) or a dataset split (<c>--format --root --split</c>); many pairs print
/// "id&lt;TAB&gt;caption" lines as they are generated, or go to a COCO result file (<c>--out</c>).
/// </summary>
public static class CaptionCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var inputs = new PairInputs(allowPairsFile: true);
        var before = new Option<string?>("--before") { Description = "the first (before) image of one pair" };
        var after = new Option<string?>("--after") { Description = "the second (after) image of one pair" };
        var prompt = new Option<string?>("--prompt") { Description = "the task prompt (default: the dataset's, else the model's)" };
        var output = new Option<string?>("--out") { Description = "with many pairs: write a COCO caption result file [{\"image_id\", \"caption\"}] instead of printing" };
        var map = new Option<string?>("--map") { Description = "with one pair: also write a PNG of both images with where the model saw the change over them, the caption under them" };
        var maps = new Option<string?>("--maps") { Description = "with many pairs: also write such a PNG per pair into this folder (ID.png)" };
        var mapMethod = ModelOptions.MapMethod();
        var command = new Command("caption", "Describe what changed between two images, for one pair or many") { before, after, prompt, output, map, maps, mapMethod };
        foreach (var o in model.All.Concat(inputs.All)) command.Options.Add(o);
        CliAction.Set(command, (parse, cancel) =>
        {
            string? a = parse.GetValue(before), b = parse.GetValue(after);
            bool onePair = a is not null || b is not null;
            if (onePair == inputs.Given(parse) || (onePair && (a is null || b is null)))
                throw new UsageException("give one pair (--before A --after B), or many (--pairs FILE, or --format F --root R [--split S])");
            if (onePair && parse.GetValue(output) is not null) throw new UsageException("--out is for many pairs; one pair's caption is printed");
            if (onePair && inputs.AnyGiven(parse)) throw new UsageException("--split and --skip-bad are for many pairs (--pairs, or --format and --root)");
            string? mapFile = parse.GetValue(map), mapFolder = parse.GetValue(maps);
            if (onePair ? mapFolder is not null : mapFile is not null) throw new UsageException("--map FILE is for one pair, --maps FOLDER for many");
            var method = ModelOptions.ParseMapMethod(parse.GetValue(mapMethod)!);
            model.Overrides(parse);
            if (onePair)
            {
                using var one = model.Load(parse);
                if (mapFile is null)
                {
                    Console.WriteLine(one.Caption(a!, b!, parse.GetValue(prompt)));
                    return ExitCodes.Success;
                }
                var record = new DiffCapRecord("pair", a!, b!, parse.GetValue(prompt) ?? one.Settings.DefaultPrompt, [], "diffcap");
                var outcome = one.WithChangeMaps(method).EnumerateOutcomes([new ImagePairRow(record, ImageInput.FromPath(a!), ImageInput.FromPath(b!))]).First();
                Console.WriteLine(outcome.Caption);
                MapFigures.Write(mapFile, one, record, outcome);
                Console.Error.WriteLine($"wrote {mapFile}");
                return ExitCodes.Success;
            }
            var records = inputs.Read(parse, parse.GetValue(prompt), Console.Error);
            using var transformer = model.Load(parse);
            if (mapFolder is not null) transformer.WithChangeMaps(method);
            string? outPath = parse.GetValue(output);
            var results = WorkProgress.Run("pairs", progress =>
            {
                var results = new List<(string Id, string Caption)>();
                int i = 0;
                foreach (var (id, outcome) in CaptionAll(transformer, records, progress, cancel))
                {
                    results.Add((id, outcome.Caption));
                    if (outPath is null) progress.Out($"{id}\t{OneLine(outcome.Caption)}");
                    if (mapFolder is not null) MapFigures.Write(Path.Combine(mapFolder, MapFigures.FileName(id)), transformer, records[i], outcome);
                    i++;
                }
                return results;
            });
            if (mapFolder is not null) Console.Error.WriteLine($"wrote {results.Count} change map(s) to {mapFolder}");
            if (outPath is not null)
            {
                CaptionFiles.WriteCocoResults(outPath, results);
                Console.Error.WriteLine($"wrote {results.Count} caption(s) to {outPath}");
            }
            return ExitCodes.Success;
        }, ModelOptions.OutOfMemoryAdvice);
        return command;
    }

    /// <summary>Each record's id and caption, in order, with a bar on <paramref name="progress"/>
    /// (or a progress line about every 10 seconds); <paramref name="cancel"/> stops it between captions.</summary>
    internal static IEnumerable<(string Id, CaptionOutcome Outcome)> CaptionAll(DiffCaptionTransformer transformer, IReadOnlyList<DiffCapRecord> records, WorkProgress progress, CancellationToken cancel)
    {
        progress.Error($"captioning {records.Count} pairs on {transformer.RunsOn}");
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        var rows = records.Select(r => new ImagePairRow(r, ImageInput.FromPath(r.Image1), ImageInput.FromPath(r.Image2)));
        int done = 0;
        foreach (var outcome in transformer.EnumerateOutcomes(rows))
        {
            cancel.ThrowIfCancellationRequested();
            yield return (records[done].Id, outcome);
            done++;
            progress.Report("captioning", done, records.Count);
            if (done == records.Count || clock.Elapsed - lastReport > TimeSpan.FromSeconds(10))
            {
                lastReport = clock.Elapsed;
                double rate = done / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
                progress.Plain($"captioned {done}/{records.Count} pairs ({rate:F1} pairs/s" + (done < records.Count ? $", about {TimeSpan.FromSeconds((records.Count - done) / rate):hh\\:mm\\:ss} left)" : ")"));
            }
        }
    }

    static string OneLine(string caption) => caption.Replace('\t', ' ').Replace('\r', ' ').Replace('\n', ' ');
}
