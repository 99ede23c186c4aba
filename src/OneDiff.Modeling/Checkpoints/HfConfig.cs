using System.Text.Json;
using System.Text.Json.Nodes;

namespace OneDiff.Modeling.Checkpoints;

/// <summary>
/// A Hugging Face <c>config.json</c>, read as JSON with typed getters. The model configs
/// (CLIP, BERT, LLaMA, Qwen2, ...) build themselves from it, so every size comes from the file.
/// </summary>
public sealed class HfConfig
{
    public string Source { get; }
    public JsonObject Json { get; }

    public HfConfig(JsonObject json, string source = "config.json") { Json = json; Source = source; }

    /// <summary>Reads <c>config.json</c> from a file or a model folder.</summary>
    public static HfConfig Load(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        if (!File.Exists(file)) throw new FileNotFoundException($"Hugging Face config not found: {file}", file);
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(file)); }
        catch (JsonException e) { throw new InvalidDataException($"{file}: not valid JSON ({e.Message})"); }
        return node is JsonObject obj ? new HfConfig(obj, file) : throw new InvalidDataException($"{file}: not a JSON object");
    }

    /// <summary><c>model_type</c>, or empty when absent.</summary>
    public string ModelType => GetString("model_type", "");

    public IReadOnlyList<string> Architectures =>
        Json["architectures"] is JsonArray a ? a.Select(x => x?.GetValue<string>() ?? "").ToList() : [];

    public bool Has(string key) => Json.ContainsKey(key) && Json[key] is not null;

    /// <summary>A nested config such as CLIP's <c>vision_config</c>.</summary>
    public HfConfig Section(string key) =>
        Json[key] is JsonObject o ? new HfConfig(o, $"{Source}#{key}") : throw Missing(key);

    public HfConfig? TrySection(string key) => Json[key] is JsonObject o ? new HfConfig(o, $"{Source}#{key}") : null;

    public int GetInt(string key) => Get(key, n => n.GetValue<int>());
    public int GetInt(string key, int fallback) => Has(key) ? GetInt(key) : fallback;
    public long GetLong(string key) => Get(key, n => n.GetValue<long>());
    public double GetDouble(string key) => Get(key, n => n.GetValue<double>());
    public double GetDouble(string key, double fallback) => Has(key) ? GetDouble(key) : fallback;
    public bool GetBool(string key, bool fallback) => Has(key) ? Get(key, n => n.GetValue<bool>()) : fallback;
    public string GetString(string key, string fallback) => Has(key) ? Get(key, n => n.GetValue<string>()) : fallback;
    public int? GetIntOrNull(string key) => Has(key) ? GetInt(key) : null;

    T Get<T>(string key, Func<JsonNode, T> read)
    {
        var node = Json[key] ?? throw Missing(key);
        try { return read(node); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{Source}: \"{key}\" has value {node.ToJsonString()}, not a {typeof(T).Name}");
        }
    }

    InvalidDataException Missing(string key) => new($"{Source}: required key \"{key}\" is missing");
}
