using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using OneDiff.Cli.Terminal;
using OneDiff.Data;
using OneDiff.Data.Images;
using OneDiff.Data.Localization;
using OneDiff.Modeling.Models.OneDiff;

namespace OneDiff.Cli.Commands;

/// <summary>
/// <c>onediff evaluate --localization</c>: the model's change maps of a split whose changes are
/// located (the procedural set records each changed object's boxes) scored by the pointing game
/// and the map's mass inside the boxes, per change type, for each map method next to two
/// baselines: the absolute pixel difference and a uniform map (the area share).
/// </summary>
internal static class LocalizationCommand
{
    static readonly (string Name, ChangeMapMethod Method)[] Methods =
        [("gradient x input", ChangeMapMethod.GradientTimesInput), ("delta attention", ChangeMapMethod.DeltaAttention)];

    public static int Run(ParseResult parse, ModelOptions model, PairInputs dataset, string? prompt, bool json, CancellationToken cancel)
    {
        model.Overrides(parse);
        var records = dataset.Read(parse, prompt, Console.Error);
        if (records.FirstOrDefault(r => r.Locations is null) is { } unlocated)
            throw new InvalidDataException($"id {unlocated.Id}: the record does not say where its changes are ({unlocated.Source}); " +
                "--localization needs located changes, as the procedural set's files have them (onediff synth)");
        using var transformer = model.Load(parse);
        var grids = records.Select(r =>
        {
            var before = ImageDecoder.Dimensions(File.ReadAllBytes(r.Image1), r.Image1);
            var after = ImageDecoder.Dimensions(File.ReadAllBytes(r.Image2), r.Image2);
            if (before != after)
                throw new InvalidDataException($"id {r.Id}: the images are {before.Width} x {before.Height} and {after.Width} x {after.Height}; located changes need both in one frame");
            return transformer.MapGrid(before.Width, before.Height);
        }).ToList();

        var columns = new List<(string Name, LocalizationReport Report)>();
        foreach (var (name, method) in Methods)
        {
            transformer.WithChangeMaps(method);
            var outcomes = WorkProgress.Run("pairs", progress => CaptionCommand.CaptionAll(transformer, records, progress, cancel).ToList());
            columns.Add((name, Score(records, grids, i => outcomes[i].Outcome.Map!)));
        }
        var processor = new ClipImageProcessor(transformer.Config.Vision.ImageSize, transformer.Settings.PadToSquare);
        var pixelMaps = new ChangeMap[records.Count];
        Parallel.For(0, records.Count, i => pixelMaps[i] = ChangeMap.PixelDifference(ImageDecoder.Decode(records[i].Image1), ImageDecoder.Decode(records[i].Image2), processor, transformer.MapGridSize));
        columns.Add(("pixel difference", Score(records, grids, i => pixelMaps[i])));
        columns.Add(("uniform", Score(records, grids, _ => ChangeMap.Uniform(transformer.MapGridSize))));
        Console.WriteLine(json ? Json(columns) : Table(columns));
        return ExitCodes.Success;
    }

    static LocalizationReport Score(List<DiffCapRecord> records, List<PatchGrid> grids, Func<int, ChangeMap> map) =>
        LocalizationEvaluator.Evaluate(records.Select((r, i) => new LocalizationItem(r.Id, r.Group, map(i), grids[i], r.Locations!)));

    static string Table(List<(string Name, LocalizationReport Report)> columns)
    {
        var first = columns[0].Report;
        var groups = first.PerGroup.Keys.ToList();
        var sb = new StringBuilder();
        sb.AppendLine($"change maps on {first.Overall.Pairs} pairs with located changes ({first.PairsWithoutChange} without change, left out: nothing to point at)");
        foreach (var (title, pick) in new (string, Func<LocalizationScore, double>)[] { ("pointing game (%)", s => s.PointingAccuracy), ("mass inside the boxes (%)", s => s.MassShare) })
        {
            sb.AppendLine();
            sb.Append($"{title,-26}");
            foreach (var (name, _) in columns) sb.Append($"{name,18}");
            sb.AppendLine();
            foreach (var g in groups.Append("overall"))
            {
                var count = g == "overall" ? first.Overall.Pairs : first.PerGroup[g].Pairs;
                sb.Append($"{$"{g} ({count})",-26}");
                foreach (var (_, report) in columns)
                    sb.Append($"{(100 * pick(g == "overall" ? report.Overall : report.PerGroup[g])).ToString("F1", CultureInfo.InvariantCulture),18}");
                sb.AppendLine();
            }
        }
        return sb.ToString().TrimEnd();
    }

    static string Json(List<(string Name, LocalizationReport Report)> columns)
    {
        static object Score(LocalizationScore s) => new { pairs = s.Pairs, pointing_game = s.PointingAccuracy, mass_share = s.MassShare };
        var body = columns.ToDictionary(c => c.Name, c => (object)new
        {
            overall = Score(c.Report.Overall),
            per_group = c.Report.PerGroup.ToDictionary(g => g.Key, g => Score(g.Value)),
            pairs_without_change = c.Report.PairsWithoutChange,
        });
        return JsonSerializer.Serialize(body, new JsonSerializerOptions { WriteIndented = true });
    }
}
