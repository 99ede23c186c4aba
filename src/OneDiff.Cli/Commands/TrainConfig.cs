using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using OneDiff.MLNet;

namespace OneDiff.Cli.Commands;

/// <summary>A dataset entry of a training config.</summary>
public sealed record DatasetRef(string Format, string Root, string Split = "train");

/// <summary>
/// The training config of <c>onediff train</c> (JSON or YAML). Relative paths are relative to the
/// config file. Reading is strict: a key that means nothing, an option the trainer does not have or
/// a value of the wrong type is an error naming the file and the key, since a misspelt option that
/// is ignored would silently train something else for hours.
/// </summary>
public sealed record TrainConfig
{
    public List<DatasetRef> Train { get; init; } = [];
    public List<DatasetRef> Validation { get; init; } = [];
    /// <summary>Single-image captions for stage I: {"llava": file, "images": folder}.</summary>
    public Dictionary<string, string>? Captions { get; init; }
    /// <summary>Conversations about single images mixed into stage II (LLaVA-665K): {"llava": file, "images": folder}.</summary>
    public Dictionary<string, string>? Conversations { get; init; }
    /// <summary>Any DiffCaptionTrainer option by name (Preset, StageTwoEpochs, BatchSize, ...).</summary>
    public JsonObject Options { get; init; } = [];
    public string Output { get; init; } = "onediff-model.zip";
    public bool SkipBad { get; init; }

    /// <summary>The config file, and its folder, against which relative paths resolve.</summary>
    [JsonIgnore] public string FilePath { get; init; } = "config";
    [JsonIgnore] public string BaseDirectory { get; init; } = ".";

    public string Resolve(string path) => Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(BaseDirectory, path));

    static readonly string[] Keys = ["train", "validation", "captions", "conversations", "options", "output", "skipBad"];
    static readonly string[] CaptionKeys = ["llava", "images"];
    static readonly string[] DatasetKeys = ["format", "root", "split"];
    static readonly string[] FolderOptions =
        [nameof(DiffCaptionTrainer.Options.ClipFolder), nameof(DiffCaptionTrainer.Options.BertFolder), nameof(DiffCaptionTrainer.Options.LlmFolder), nameof(DiffCaptionTrainer.Options.CheckpointFolder), nameof(DiffCaptionTrainer.Options.MetricsFolder)];

    /// <summary>The trainer options a config may set: those of plain values (tables and tokens are
    /// given by the config's own keys or not at all).</summary>
    public static IReadOnlyList<PropertyInfo> SettableOptions { get; } = typeof(DiffCaptionTrainer.Options).GetProperties()
        .Where(p => p.CanWrite && IsPlain(Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType)).ToList();

    static bool IsPlain(Type t) => t == typeof(string) || t == typeof(int) || t == typeof(double) || t == typeof(bool) || t.IsEnum || t == typeof(int[]);

    static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true, Converters = { new JsonStringEnumConverter() } };

    public static TrainConfig Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"config not found: {path}", path);
        string text = File.ReadAllText(path);
        if (path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
        {
            object? yaml;
            try { yaml = new YamlDotNet.Serialization.DeserializerBuilder().WithAttemptingUnquotedStringTypeDeserialization().Build().Deserialize<object>(text); }
            catch (YamlDotNet.Core.YamlException e) { throw new InvalidDataException($"{path}: not valid YAML ({e.Message})", e); }
            text = JsonSerializer.Serialize(yaml);
        }
        JsonObject root;
        try { root = JsonNode.Parse(text) as JsonObject ?? throw new InvalidDataException($"{path}: the config must be a mapping of keys (train, options, ...)"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e); }

        Known(path, "", root.Select(p => p.Key), Keys);
        foreach (var key in new[] { "captions", "conversations" })
            if (root[key] is JsonObject table) Known(path, $"{key}.", table.Select(p => p.Key), CaptionKeys);
        // A misspelt "split" would otherwise train on the default split.
        foreach (var list in new[] { "train", "validation" })
            if (root[list] is JsonArray entries)
                for (int i = 0; i < entries.Count; i++)
                    if (entries[i] is JsonObject entry) Known(path, $"{list}[{i}].", entry.Select(p => p.Key), DatasetKeys);
        if (root["options"] is JsonObject options) Known(path, "options.", options.Select(p => p.Key), SettableOptions.Select(p => p.Name).ToArray());

        TrainConfig config;
        try { config = root.Deserialize<TrainConfig>(Json) ?? throw new InvalidDataException($"{path}: empty config"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
        foreach (var (list, name) in new[] { (config.Train, "train"), (config.Validation, "validation") })
            for (int i = 0; i < list.Count; i++)
                if (string.IsNullOrWhiteSpace(list[i]?.Format) || string.IsNullOrWhiteSpace(list[i]?.Root))
                    throw new InvalidDataException($"{path}: {name}[{i}] needs a 'format' ({string.Join(", ", OneDiff.Data.Readers.DatasetReader.Formats.Keys)}) and a 'root' folder");
        if (config.Captions is { } c && !c.ContainsKey("llava")) throw new InvalidDataException($"{path}: captions needs 'llava' (the LLaVA-format caption file)");
        if (config.Conversations is { } v && !v.ContainsKey("llava")) throw new InvalidDataException($"{path}: conversations needs 'llava' (the LLaVA-format instruction file)");
        return config with { FilePath = path, BaseDirectory = Path.GetDirectoryName(Path.GetFullPath(path))! };
    }

    static void Known(string path, string prefix, IEnumerable<string> keys, string[] known)
    {
        foreach (var key in keys)
            if (!known.Contains(key, StringComparer.OrdinalIgnoreCase))
            {
                string? near = known.OrderBy(k => Distance(k.ToLowerInvariant(), key.ToLowerInvariant())).First();
                string hint = Distance(near.ToLowerInvariant(), key.ToLowerInvariant()) <= Math.Max(2, key.Length / 4) ? $"did you mean '{prefix}{near}'? " : "";
                throw new InvalidDataException($"{path}: unknown key '{prefix}{key}'; {hint}known: {string.Join(", ", known)}");
            }
    }

    static int Distance(string a, string b)
    {
        var d = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) d[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = d[0];
            d[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = d[j];
                d[j] = Math.Min(Math.Min(d[j] + 1, d[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return d[b.Length];
    }

    /// <summary>The trainer options the config sets, folders resolved against the config's folder
    /// (the tables are set by <c>train</c> once loaded).</summary>
    public DiffCaptionTrainer.Options TrainerOptions()
    {
        DiffCaptionTrainer.Options options;
        try { options = Options.Deserialize<DiffCaptionTrainer.Options>(Json) ?? new DiffCaptionTrainer.Options(); }
        catch (JsonException e) { throw new InvalidDataException($"{FilePath}: options: {e.Message}", e); }
        foreach (var folder in FolderOptions)
        {
            var prop = typeof(DiffCaptionTrainer.Options).GetProperty(folder)!;
            if (prop.GetValue(options) is string p) prop.SetValue(options, Resolve(p));
        }
        return options;
    }

    /// <summary>The tables this config gives the trainer.</summary>
    public TrainingInputs Inputs => new(Captions is not null, Conversations is not null, Validation.Count > 0);

    /// <summary>The training plan of this config (<see cref="TrainingPlan.Resolve"/>): an option out
    /// of range is an error naming the file and the option.</summary>
    public TrainingPlan Plan(DiffCaptionTrainer.Options options)
    {
        try { return TrainingPlan.Resolve(options, Inputs); }
        catch (ArgumentException e) { throw new InvalidDataException($"{FilePath}: options: {e.Message}", e); }
    }
}
