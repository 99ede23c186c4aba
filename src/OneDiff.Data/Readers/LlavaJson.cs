using System.Text.Json;

namespace OneDiff.Data.Readers;

/// <summary>The records of a LLaVA JSON file (a list of <c>{"id", "image", "conversations"}</c>).</summary>
internal static class LlavaJson
{
    /// <summary>Each record's id (its index when it has none), image path (null for text-only
    /// records) and conversation messages as (from, value).</summary>
    public static IEnumerable<(string Id, string? Image, List<(string From, string Value)> Messages)> Records(string jsonFile, string? arrayProperty = null)
    {
        if (!File.Exists(jsonFile)) throw new FileNotFoundException($"LLaVA file not found: {jsonFile}", jsonFile);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(jsonFile)); }
        catch (JsonException e) { throw new InvalidDataException($"{jsonFile}: not valid JSON ({e.Message})"); }
        using (doc)
        {
            var list = arrayProperty is null ? doc.RootElement : doc.RootElement.GetProperty(arrayProperty);
            if (list.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"{jsonFile}: expected a list of records");
            int index = 0;
            foreach (var e in list.EnumerateArray())
            {
                string id = e.TryGetProperty("id", out var i) ? (i.ValueKind == JsonValueKind.String ? i.GetString()! : i.GetRawText()) : $"{index}";
                index++;
                string? image = e.TryGetProperty("image", out var img) && img.ValueKind == JsonValueKind.String ? img.GetString() : null;
                var messages = new List<(string, string)>();
                if (e.TryGetProperty("conversations", out var conv) && conv.ValueKind == JsonValueKind.Array)
                    foreach (var m in conv.EnumerateArray())
                        messages.Add((m.TryGetProperty("from", out var f) ? f.GetString() ?? "" : "",
                                      m.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : ""));
                yield return (id, image, messages);
            }
        }
    }
}
