using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Checkpoints;

/// <summary>What <see cref="SafetensorsCheckpoint.LoadInto"/> did.</summary>
public sealed record CheckpointLoadReport(IReadOnlyList<string> Loaded, IReadOnlyList<string> MissingInCheckpoint, IReadOnlyList<string> UnusedInCheckpoint);

/// <summary>
/// A Hugging Face weights checkpoint: one <c>.safetensors</c> file, or shards listed by a
/// <c>model.safetensors.index.json</c>. Open it with a file, an index, or a model folder.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    readonly List<SafetensorsFile> _files;
    readonly Dictionary<string, SafetensorsFile> _byTensor;

    public string Source { get; }
    public IReadOnlyCollection<string> Names => _byTensor.Keys;
    public IReadOnlyList<SafetensorsFile> Files => _files;

    SafetensorsCheckpoint(string source, List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> byTensor)
    {
        Source = source; _files = files; _byTensor = byTensor;
    }

    public static SafetensorsCheckpoint Open(string path)
    {
        if (Directory.Exists(path))
        {
            string index = System.IO.Path.Combine(path, IndexFileName);
            string single = System.IO.Path.Combine(path, SingleFileName);
            if (File.Exists(index)) return OpenIndex(index);
            if (File.Exists(single)) return OpenFiles(single, [single]);
            throw new FileNotFoundException($"{path}: no {SingleFileName} or {IndexFileName} in this folder");
        }
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return OpenIndex(path);
        return OpenFiles(path, [path]);
    }

    /// <summary>Safetensors bytes stored from <paramref name="start"/> to the end of a file of another
    /// format (a saved model's weights entry), read in place.</summary>
    public static SafetensorsCheckpoint OpenEmbedded(string path, long start) => OpenFiles(path, [path], start);

    static SafetensorsCheckpoint OpenIndex(string indexPath)
    {
        if (!File.Exists(indexPath)) throw new FileNotFoundException($"checkpoint index not found: {indexPath}", indexPath);
        Dictionary<string, string> weightMap;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            weightMap = doc.RootElement.GetProperty("weight_map").EnumerateObject()
                .ToDictionary(p => p.Name, p => p.Value.GetString() ?? "", StringComparer.Ordinal);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"{indexPath}: not a safetensors index (needs a \"weight_map\" object): {e.Message}");
        }
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;
        var shardNames = weightMap.Values.Distinct().ToList();
        foreach (var shard in shardNames)
        {
            if (shard.Length == 0 || System.IO.Path.IsPathRooted(shard) || shard.Contains(".."))
                throw new InvalidDataException($"{indexPath}: shard name '{shard}' must be a file name inside the checkpoint folder");
            string shardPath = System.IO.Path.Combine(folder, shard);
            if (!File.Exists(shardPath))
                throw new FileNotFoundException($"{indexPath}: shard '{shard}' is listed but missing ({shardPath})", shardPath);
        }
        var checkpoint = OpenFiles(indexPath, shardNames.Select(s => System.IO.Path.Combine(folder, s)).ToList());
        foreach (var (tensor, shard) in weightMap)
        {
            if (!checkpoint._byTensor.TryGetValue(tensor, out var file) || System.IO.Path.GetFileName(file.Path) != shard)
            {
                checkpoint.Dispose();
                throw new InvalidDataException($"{indexPath}: tensor '{tensor}' is mapped to shard '{shard}', which does not hold it");
            }
        }
        return checkpoint;
    }

    static SafetensorsCheckpoint OpenFiles(string source, List<string> paths, long start = 0)
    {
        var files = new List<SafetensorsFile>();
        var byTensor = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var p in paths)
            {
                var f = SafetensorsFile.Open(p, start);
                files.Add(f);
                foreach (var name in f.Entries.Keys)
                {
                    if (byTensor.TryGetValue(name, out var other))
                        throw new InvalidDataException($"tensor '{name}' is stored twice: in {other.Path} and {f.Path}");
                    byTensor[name] = f;
                }
            }
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
        return new SafetensorsCheckpoint(source, files, byTensor);
    }

    public bool Contains(string name) => _byTensor.ContainsKey(name);

    public SafetensorsEntry Entry(string name) => FileOf(name).Entry(name);

    public Tensor Read(string name, ScalarType? dtype = null, Device? device = null) => FileOf(name).Read(name, dtype, device);

    public void ReadInto(string name, Tensor target) => FileOf(name).ReadInto(name, target);

    SafetensorsFile FileOf(string name) =>
        _byTensor.TryGetValue(name, out var f) ? f : throw new KeyNotFoundException($"{Source}: no tensor named '{name}'");

    /// <summary>
    /// Copies checkpoint tensors into the parameters and buffers of <paramref name="module"/>,
    /// matched by name (optionally through <paramref name="checkpointNameOf"/>, which maps a module
    /// name to a checkpoint name, or null to skip it). Each tensor goes straight into the module's
    /// own storage, converting dtype and device on the way. With <paramref name="strict"/>, a module
    /// tensor absent from the checkpoint is an error.
    /// </summary>
    public CheckpointLoadReport LoadInto(nn.Module module, bool strict = true, Func<string, string?>? checkpointNameOf = null)
    {
        var loaded = new List<string>();
        var missing = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in module.state_dict())
        {
            string? key = checkpointNameOf is null ? name : checkpointNameOf(name);
            if (key is null) continue;
            if (!Contains(key)) { missing.Add(name); continue; }
            ReadInto(key, tensor);
            used.Add(key);
            loaded.Add(name);
        }
        if (strict && missing.Count > 0)
            throw new InvalidDataException($"{Source}: the checkpoint lacks {missing.Count} tensor(s) the model needs: {string.Join(", ", missing.Take(10))}{(missing.Count > 10 ? ", ..." : "")}");
        var unused = Names.Where(n => !used.Contains(n)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        return new CheckpointLoadReport(loaded, missing, unused);
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
