using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Checkpoints;

/// <summary>Where one tensor lies in a safetensors file.</summary>
public sealed record SafetensorsEntry(string Name, string File, ScalarType DType, long[] Shape, long Offset, long Length)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// One <c>.safetensors</c> file, opened for random access. The header is read and checked at
/// open; tensors are read one at a time straight into their own memory, so loading a model never
/// holds a second full copy of it.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    const long MaxHeaderBytes = 100L << 20;
    readonly SafeFileHandle _handle;
    readonly long _dataStart;

    public string Path { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    SafetensorsFile(string path, SafeFileHandle handle, long dataStart,
        Dictionary<string, SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path; _handle = handle; _dataStart = dataStart; Entries = entries; Metadata = metadata;
    }

    /// <param name="start">where the safetensors bytes begin (they run to the end of the file): 0
    /// for a .safetensors file, more for one stored inside another format.</param>
    public static SafetensorsFile Open(string path, long start = 0)
    {
        if (!System.IO.File.Exists(path)) throw new FileNotFoundException($"safetensors file not found: {path}", path);
        var handle = System.IO.File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            long fileLength = RandomAccess.GetLength(handle) - start;
            if (fileLength < 8) throw Bad(path, $"the file has {fileLength} bytes, fewer than the 8-byte header length");
            Span<byte> lengthBytes = stackalloc byte[8];
            RandomAccess.Read(handle, lengthBytes, start);
            long headerLength = (long)BitConverter.ToUInt64(lengthBytes);
            if (headerLength <= 0 || headerLength > MaxHeaderBytes || 8 + headerLength > fileLength)
                throw Bad(path, $"header length {headerLength} does not fit the file of {fileLength} bytes (truncated or not safetensors)");
            var header = new byte[headerLength];
            RandomAccess.Read(handle, header, start + 8);
            long dataStart = start + 8 + headerLength;
            long dataLength = fileLength - 8 - headerLength;
            var (entries, metadata) = ParseHeader(path, header, dataLength);
            return new SafetensorsFile(path, handle, dataStart, entries, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    static (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataLength)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw Bad(path, $"header is not valid JSON ({e.Message})"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad(path, "header is not a JSON object");
            var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__")
                {
                    foreach (var m in p.Value.EnumerateObject()) metadata[m.Name] = m.Value.ToString();
                    continue;
                }
                entries[p.Name] = ParseEntry(path, p.Name, p.Value, dataLength);
            }
            return (entries, metadata);
        }
    }

    static SafetensorsEntry ParseEntry(string path, string name, JsonElement e, long dataLength)
    {
        try
        {
            string dtypeName = e.GetProperty("dtype").GetString() ?? "";
            if (!SafetensorsDType.TryParse(dtypeName, out var dtype, out int size))
                throw Bad(path, $"tensor '{name}' has unsupported dtype '{dtypeName}'");
            long[] shape = e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            if (shape.Any(d => d < 0)) throw Bad(path, $"tensor '{name}' has a negative dimension");
            var offsets = e.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0])
                throw Bad(path, $"tensor '{name}' has malformed data_offsets");
            long expected = shape.Aggregate(1L, (a, b) => checked(a * b)) * size;
            if (offsets[1] - offsets[0] != expected)
                throw Bad(path, $"tensor '{name}' ({dtypeName}, shape [{string.Join(", ", shape)}]) needs {expected} bytes but its data_offsets span {offsets[1] - offsets[0]}");
            if (offsets[1] > dataLength)
                throw Bad(path, $"tensor '{name}' ends at byte {offsets[1]} of the data section, which has only {dataLength} bytes (truncated file?)");
            return new SafetensorsEntry(name, path, dtype, shape, offsets[0], offsets[1] - offsets[0]);
        }
        catch (KeyNotFoundException) { throw Bad(path, $"tensor '{name}' lacks dtype, shape or data_offsets"); }
        catch (InvalidOperationException) { throw Bad(path, $"tensor '{name}' has a malformed header entry"); }
        catch (FormatException) { throw Bad(path, $"tensor '{name}' has a malformed header entry"); }
    }

    static InvalidDataException Bad(string path, string what) => new($"{path}: {what}");

    public bool Contains(string name) => Entries.ContainsKey(name);

    public SafetensorsEntry Entry(string name) =>
        Entries.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <summary>Reads a tensor in its stored dtype on the CPU, then converts it to
    /// <paramref name="dtype"/> and moves it to <paramref name="device"/> when given.</summary>
    public Tensor Read(string name, ScalarType? dtype = null, Device? device = null)
    {
        var entry = Entry(name);
        var cpu = torch.empty(entry.Shape, entry.DType, torch.CPU);
        try
        {
            ReadBytes(entry, cpu);
            if ((dtype is null || dtype == entry.DType) && (device is null || device.type == DeviceType.CPU)) return cpu;
            var moved = cpu.to(dtype ?? entry.DType, device ?? torch.CPU);
            cpu.Dispose();
            return moved;
        }
        catch
        {
            cpu.Dispose();
            throw;
        }
    }

    /// <summary>Copies a stored tensor into <paramref name="target"/> (any dtype or device),
    /// checking the shape.</summary>
    public void ReadInto(string name, Tensor target)
    {
        var entry = Entry(name);
        if (!entry.Shape.SequenceEqual(target.shape))
            throw new InvalidDataException($"{Path}: tensor '{name}' has shape [{string.Join(", ", entry.Shape)}] but the model expects [{string.Join(", ", target.shape)}]");
        using var _ = torch.no_grad();
        if (target.device_type == DeviceType.CPU && target.dtype == entry.DType && target.is_contiguous())
        {
            ReadBytes(entry, target);
            return;
        }
        using var staged = Read(name);
        target.copy_(staged);
    }

    void ReadBytes(SafetensorsEntry entry, Tensor destination)
    {
        // Tensor.bytes is a span over the tensor's own CPU memory; spans stop at 2 GiB, so larger
        // tensors are filled in slices along their first dimension.
        if (entry.Length <= int.MaxValue / 2 || destination.dim() == 0)
        {
            ReadExactly(entry, destination.bytes, entry.Offset);
            return;
        }
        long rows = destination.shape[0];
        long rowBytes = entry.Length / rows;
        long rowsPerSlice = Math.Max(1, (int.MaxValue / 2) / rowBytes);
        for (long r = 0; r < rows; r += rowsPerSlice)
        {
            using var slice = destination.narrow(0, r, Math.Min(rowsPerSlice, rows - r));
            ReadExactly(entry, slice.bytes, entry.Offset + r * rowBytes);
        }
    }

    void ReadExactly(SafetensorsEntry entry, Span<byte> target, long offset)
    {
        int done = 0;
        while (done < target.Length)
        {
            int read = RandomAccess.Read(_handle, target[done..], _dataStart + offset + done);
            if (read <= 0) throw Bad(Path, $"tensor '{entry.Name}': unexpected end of file");
            done += read;
        }
    }

    public void Dispose() => _handle.Dispose();
}
