using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Checkpoints;

/// <summary>Writes tensors in the safetensors format, as one file or as shards with an index.</summary>
public static class SafetensorsWriter
{
    /// <summary>Writes one file. Tensors are written in the given order, each copied to the CPU
    /// one at a time.</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in list)
            if (!names.Add(name)) throw new ArgumentException($"tensor name '{name}' appears twice");

        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        string temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            Write(stream, list, metadata);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Writes the safetensors bytes to a stream (e.g. an entry of a model zip).</summary>
    public static void Write(Stream stream, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var (name, t) in list)
        {
            long length = t.numel() * SafetensorsDType.SizeOf(t.dtype);
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = SafetensorsDType.NameOf(t.dtype),
                ["shape"] = t.shape,
                ["data_offsets"] = new[] { offset, offset + length },
            };
            offset += length;
        }
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(header);
        int padded = (json.Length + 7) / 8 * 8;
        var headerBytes = new byte[padded];
        Array.Fill(headerBytes, (byte)' ');
        json.CopyTo(headerBytes, 0);
        stream.Write(BitConverter.GetBytes((ulong)padded));
        stream.Write(headerBytes);
        foreach (var (_, t) in list) WriteTensor(stream, t);
    }

    /// <summary>Writes shards of at most <paramref name="maxShardBytes"/> (a single larger tensor
    /// gets a shard of its own) named like Hugging Face's, plus model.safetensors.index.json.
    /// Returns the index path.</summary>
    public static string SaveSharded(string folder, IEnumerable<KeyValuePair<string, Tensor>> tensors, long maxShardBytes, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var shards = new List<List<KeyValuePair<string, Tensor>>> { new() };
        long current = 0, total = 0;
        foreach (var kv in tensors)
        {
            long size = kv.Value.numel() * SafetensorsDType.SizeOf(kv.Value.dtype);
            if (current > 0 && current + size > maxShardBytes) { shards.Add(new()); current = 0; }
            shards[^1].Add(kv);
            current += size;
            total += size;
        }
        Directory.CreateDirectory(folder);
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < shards.Count; i++)
        {
            string name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            Save(Path.Combine(folder, name), shards[i], metadata);
            foreach (var (tensor, _) in shards[i]) weightMap[tensor] = name;
        }
        string index = Path.Combine(folder, SafetensorsCheckpoint.IndexFileName);
        var doc = new Dictionary<string, object>
        {
            ["metadata"] = new Dictionary<string, object> { ["total_size"] = total },
            ["weight_map"] = weightMap,
        };
        File.WriteAllText(index, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
        return index;
    }

    static void WriteTensor(Stream stream, Tensor t)
    {
        using var scope = torch.NewDisposeScope();
        var cpu = t.detach().to(torch.CPU).contiguous();
        long length = cpu.numel() * SafetensorsDType.SizeOf(cpu.dtype);
        if (length <= int.MaxValue / 2 || cpu.dim() == 0) { stream.Write(cpu.bytes); return; }
        long rows = cpu.shape[0];
        long rowsPerSlice = Math.Max(1, (int.MaxValue / 2) / (length / rows));
        for (long r = 0; r < rows; r += rowsPerSlice)
            stream.Write(cpu.narrow(0, r, Math.Min(rowsPerSlice, rows - r)).bytes);
    }
}
