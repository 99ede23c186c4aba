using System.Text.Json;
using System.Text.Json.Serialization;
using OneDiff.Data.Localization;

namespace OneDiff.Data.Formats;

/// <summary>
/// The unified DiffCap format: JSON lines of
/// <c>{"id", "image1", "image2", "prompt", "captions": [...], "task", "group", "source"}</c>,
/// image paths relative to the file's folder (absolute paths are kept as given), and where a
/// dataset knows where its changes are, <c>"changes": [{"change", "before": [x0, y0, x1, y1],
/// "after": [...]}]</c> (pixels; a box absent where the object is not in that image).
/// </summary>
public static class DiffCapJsonl
{
    sealed record Line(
        [property: JsonPropertyName("id")] string? Id,
        [property: JsonPropertyName("image1")] string? Image1,
        [property: JsonPropertyName("image2")] string? Image2,
        [property: JsonPropertyName("prompt")] string? Prompt,
        [property: JsonPropertyName("captions")] List<string>? Captions,
        [property: JsonPropertyName("task")] string? Task,
        [property: JsonPropertyName("group")] string? Group,
        [property: JsonPropertyName("source")] string? Source,
        [property: JsonPropertyName("changes")] List<LocationLine>? Changes = null);

    sealed record LocationLine(
        [property: JsonPropertyName("change")] string? Change,
        [property: JsonPropertyName("before")] int[]? Before,
        [property: JsonPropertyName("after")] int[]? After);

    static readonly JsonSerializerOptions Options = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public static void Write(string path, IEnumerable<DiffCapRecord> records)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(folder);
        using var w = new StreamWriter(path, false, new System.Text.UTF8Encoding(false));
        foreach (var r in records)
        {
            var line = new Line(r.Id, Relative(folder, r.Image1), Relative(folder, r.Image2), r.Prompt, r.Captions.ToList(), r.Task, r.Group, r.Source,
                r.Locations?.Select(l => new LocationLine(l.Change, l.Before?.ToArray(), l.After?.ToArray())).ToList());
            w.WriteLine(JsonSerializer.Serialize(line, Options));
        }
    }

    static ChangeLocation Location(LocationLine c, string where)
    {
        if (c.Before is null && c.After is null) throw new InvalidDataException($"{where}: a change needs a \"before\" or an \"after\" box");
        return new ChangeLocation(c.Change ?? "", c.Before is { } b ? PixelBox.FromArray(b, where) : null, c.After is { } a ? PixelBox.FromArray(a, where) : null);
    }

    /// <summary>A path as the file stores it: relative to its folder when inside it, else absolute.</summary>
    internal static string Relative(string folder, string path)
    {
        string rel = Path.GetRelativePath(folder, path);
        return rel.StartsWith("..", StringComparison.Ordinal) ? path : rel.Replace('\\', '/');
    }

    /// <summary>Reads records; a malformed line, missing fields or a path leaving the folder are
    /// problems naming the line.</summary>
    public static List<DiffCapRecord> Read(string path, DataReport? report = null, bool requireCaptions = true)
    {
        report ??= new DataReport();
        if (!File.Exists(path)) throw new FileNotFoundException($"DiffCap file not found: {path}", path);
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var records = new List<DiffCapRecord>();
        int lineNo = 0;
        foreach (var text in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            string where = $"{Path.GetFileName(path)} line {lineNo}";
            Line? line;
            try { line = JsonSerializer.Deserialize<Line>(text); }
            catch (JsonException e) { report.Problem(where, path, $"not valid JSON ({e.Message})"); continue; }
            if (line is null || line.Image1 is null || line.Image2 is null)
            {
                report.Problem(where, path, "needs \"image1\" and \"image2\"");
                continue;
            }
            string id = line.Id ?? lineNo.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var captions = (line.Captions ?? []).Where(c => !string.IsNullOrWhiteSpace(c)).ToList();
            if (requireCaptions && captions.Count == 0) { report.Problem($"{where} (id {id})", path, "has no captions"); continue; }
            string? a = DatasetPaths.Resolve(folder, line.Image1, $"{where} (id {id})", report, allowAbsolute: true);
            string? b = DatasetPaths.Resolve(folder, line.Image2, $"{where} (id {id})", report, allowAbsolute: true);
            if (a is null || b is null) continue;
            List<ChangeLocation>? locations = null;
            if (line.Changes is { } changes)
            {
                try { locations = changes.Select(c => Location(c, $"{where} (id {id})")).ToList(); }
                catch (InvalidDataException e) { report.Problem($"{where} (id {id})", path, e.Message.Replace($"{where} (id {id}): ", "")); continue; }
            }
            records.Add(new DiffCapRecord(id, a, b, line.Prompt ?? "", captions, line.Task ?? "diffcap", line.Group, line.Source, locations));
        }
        return records;
    }
}
