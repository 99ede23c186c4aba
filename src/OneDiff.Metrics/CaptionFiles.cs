using System.Text.Json;

namespace OneDiff.Metrics;

/// <summary>Reads the caption files the field exchanges into <see cref="CaptionItem"/>s, refusing
/// sets whose predictions and references do not cover the same ids (pycocoevalcap silently scores
/// only the ids it sees, which changes CIDEr's document frequencies).</summary>
public static class CaptionFiles
{
    /// <summary><c>{"refs": {id: [caption, ...]}, "cands": {id: caption}}</c>.</summary>
    public static List<CaptionItem> LoadRefsCands(string path, IReadOnlyDictionary<string, string>? groups = null)
    {
        using var doc = ParseFile(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("refs", out var refsEl) || !root.TryGetProperty("cands", out var candsEl))
            throw new InvalidDataException($"{path}: expected an object with \"refs\" and \"cands\"");
        var refs = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var p in Object(path, refsEl, "refs"))
        {
            if (p.Value.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{path}: refs[\"{p.Name}\"] is not a list of captions");
            refs[p.Name] = p.Value.EnumerateArray().Select(x => Text(path, x, $"refs[\"{p.Name}\"]")).ToList();
        }
        var cands = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in Object(path, candsEl, "cands")) cands[p.Name] = Text(path, p.Value, $"cands[\"{p.Name}\"]");
        return Join(path, refs, cands, groups);
    }

    /// <summary>COCO caption files: annotations <c>{"annotations": [{"image_id", "caption"}]}</c> and
    /// results <c>[{"image_id", "caption"}]</c>. Several results for one id are an error.</summary>
    public static List<CaptionItem> LoadCoco(string referencesPath, string predictionsPath, IReadOnlyDictionary<string, string>? groups = null)
    {
        var refs = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        using (var doc = ParseFile(referencesPath))
        {
            var root = doc.RootElement;
            JsonElement annotations = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("annotations", out var a) ? a
                : root.ValueKind == JsonValueKind.Array ? root
                : throw new InvalidDataException($"{referencesPath}: expected a COCO annotation file with an \"annotations\" list");
            int index = 0;
            foreach (var ann in annotations.EnumerateArray())
            {
                var (id, caption) = IdAndCaption(referencesPath, ann, $"annotations[{index++}]");
                if (!refs.TryGetValue(id, out var list)) refs[id] = list = [];
                list.Add(caption);
            }
        }
        var cands = new Dictionary<string, string>(StringComparer.Ordinal);
        using (var doc = ParseFile(predictionsPath))
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{predictionsPath}: expected a list of {{\"image_id\", \"caption\"}} results");
            int index = 0;
            foreach (var r in doc.RootElement.EnumerateArray())
            {
                var (id, caption) = IdAndCaption(predictionsPath, r, $"[{index++}]");
                if (!cands.TryAdd(id, caption)) throw new InvalidDataException($"{predictionsPath}: image_id {id} has more than one prediction");
            }
        }
        return Join(predictionsPath, refs, cands, groups);
    }

    /// <summary>A JSON object mapping id to group name (change type, dataset, ...).</summary>
    public static Dictionary<string, string> LoadGroups(string path)
    {
        using var doc = ParseFile(path);
        return Object(path, doc.RootElement, "groups").ToDictionary(p => p.Name, p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText(), StringComparer.Ordinal);
    }

    /// <summary>Writes a COCO caption result file <c>[{"image_id", "caption"}]</c> (what
    /// pycocoevalcap's <c>loadRes</c> and <see cref="LoadCoco"/> read), ids as strings.</summary>
    public static void WriteCocoResults(string path, IEnumerable<(string Id, string Caption)> predictions) =>
        WriteJson(path, w =>
        {
            w.WriteStartArray();
            foreach (var (id, caption) in predictions)
            {
                w.WriteStartObject();
                w.WriteString("image_id", id);
                w.WriteString("caption", caption);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        });

    /// <summary>Writes a COCO caption annotation file, with the "images" list and annotation ids
    /// pycocotools' <c>COCO</c> needs, so the same references can be scored by pycocoevalcap.</summary>
    public static void WriteCocoReferences(string path, IEnumerable<(string Id, IReadOnlyList<string> References)> references)
    {
        var items = references.ToList();
        WriteJson(path, w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("images");
            foreach (var (id, _) in items)
            {
                w.WriteStartObject();
                w.WriteString("id", id);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("annotations");
            int annotation = 0;
            foreach (var (id, refs) in items)
                foreach (var caption in refs)
                {
                    w.WriteStartObject();
                    w.WriteString("image_id", id);
                    w.WriteNumber("id", annotation++);
                    w.WriteString("caption", caption);
                    w.WriteEndObject();
                }
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>Writes the id -> group object <see cref="LoadGroups"/> reads.</summary>
    public static void WriteGroups(string path, IEnumerable<(string Id, string Group)> groups) =>
        WriteJson(path, w =>
        {
            w.WriteStartObject();
            foreach (var (id, group) in groups) w.WriteString(id, group);
            w.WriteEndObject();
        });

    static void WriteJson(string path, Action<Utf8JsonWriter> write)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder) Directory.CreateDirectory(folder);
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        write(w);
    }

    static List<CaptionItem> Join(string source, Dictionary<string, List<string>> refs, Dictionary<string, string> cands, IReadOnlyDictionary<string, string>? groups)
    {
        var noRefs = cands.Keys.Where(k => !refs.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var noCand = refs.Keys.Where(k => !cands.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        if (noRefs.Count > 0 || noCand.Count > 0)
        {
            var parts = new List<string>();
            if (noRefs.Count > 0) parts.Add($"{noRefs.Count} prediction id(s) have no references: {Preview(noRefs)}");
            if (noCand.Count > 0) parts.Add($"{noCand.Count} reference id(s) have no prediction: {Preview(noCand)}");
            throw new InvalidDataException($"{source}: predictions and references must cover the same ids; {string.Join("; ", parts)}");
        }
        var emptyRefs = refs.Where(kv => kv.Value.Count == 0).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        if (emptyRefs.Count > 0) throw new InvalidDataException($"{source}: {emptyRefs.Count} id(s) have an empty reference list: {Preview(emptyRefs)}");
        if (groups is not null)
        {
            var ungrouped = refs.Keys.Where(k => !groups.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
            if (ungrouped.Count > 0) throw new InvalidDataException($"the groups file has no group for {ungrouped.Count} id(s): {Preview(ungrouped)}");
        }
        return refs.Select(kv => new CaptionItem(kv.Key, cands[kv.Key], kv.Value, groups?[kv.Key])).ToList();
    }

    static string Preview(List<string> ids) => string.Join(", ", ids.Take(10)) + (ids.Count > 10 ? ", ..." : "");

    static JsonDocument ParseFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"caption file not found: {path}", path);
        try { return JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
    }

    static JsonElement.ObjectEnumerator Object(string path, JsonElement e, string what) =>
        e.ValueKind == JsonValueKind.Object ? e.EnumerateObject() : throw new InvalidDataException($"{path}: \"{what}\" must be a JSON object keyed by id");

    static string Text(string path, JsonElement e, string where) =>
        e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new InvalidDataException($"{path}: {where} must be a string, not {e.ValueKind}");

    static (string Id, string Caption) IdAndCaption(string path, JsonElement e, string where)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("image_id", out var id) || !e.TryGetProperty("caption", out var cap))
            throw new InvalidDataException($"{path}: {where} needs \"image_id\" and \"caption\"");
        string idText = id.ValueKind == JsonValueKind.String ? id.GetString()! : id.GetRawText();
        return (idText, Text(path, cap, $"{where}.caption"));
    }
}
