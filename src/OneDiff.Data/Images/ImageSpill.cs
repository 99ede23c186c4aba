using Microsoft.Win32.SafeHandles;

namespace OneDiff.Data.Images;

/// <summary>
/// Images a table hands over in memory, put aside in a temporary file until their batch: decoded
/// ones (ML.NET's <c>MLImage</c> columns) already reduced to the 8-bit square the CLIP
/// preprocessing computes its floats from (<see cref="ClipImageProcessor.ResizeAndCrop"/>, 0.33 MB
/// at 336 px whatever the original size), encoded ones (byte columns) as they are. Training then
/// holds none of them in memory. Reads may run on several threads at once; the file is deleted on
/// dispose.
/// </summary>
public sealed class ImageSpill : IDisposable
{
    readonly ClipImageProcessor _processor;
    readonly Lazy<SafeFileHandle> _file;
    long _length;

    /// <param name="folder">where the temporary file goes (default: the system's temp folder); it is
    /// created with the first image, so a table without decoded images costs nothing.</param>
    public ImageSpill(ClipImageProcessor processor, string? folder = null)
    {
        _processor = processor;
        Path = System.IO.Path.Combine(folder ?? System.IO.Path.GetTempPath(), $"onediff-pixels-{Guid.NewGuid():N}.bin");
        _file = new Lazy<SafeFileHandle>(() => File.OpenHandle(Path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose));
    }

    /// <summary>The temporary file (gone after dispose).</summary>
    public string Path { get; }

    /// <summary>Bytes written so far.</summary>
    public long Length => Interlocked.Read(ref _length);

    /// <summary>Reduces the decoded image, writes it out, and returns an input that reads it back.</summary>
    public ImageInput Add(RgbImage image, string name)
    {
        var square = _processor.ResizeAndCrop(image);
        int side = square.Width;
        long offset = Write(square.Pixels);
        return new ImageInput { Name = name, Load = () => new RgbImage(side, side, Read(offset, side * side * 3, name)) };
    }

    /// <summary>Writes the encoded image out and returns an input that reads and decodes it when needed
    /// (an empty or undecodable one fails then, naming <paramref name="name"/>, as from memory).</summary>
    public ImageInput AddEncoded(byte[] bytes, string name)
    {
        long offset = Write(bytes);
        int length = bytes.Length;
        return new ImageInput { Name = name, Load = () => ImageInput.FromBytes(Read(offset, length, name), name).Decode() };
    }

    long Write(byte[] data)
    {
        long offset = Interlocked.Add(ref _length, data.Length) - data.Length;
        RandomAccess.Write(_file.Value, data, offset);
        return offset;
    }

    byte[] Read(long offset, int length, string name)
    {
        var data = new byte[length];
        int read = 0;
        while (read < length)
        {
            int n = RandomAccess.Read(_file.Value, data.AsSpan(read), offset + read);
            if (n <= 0) throw new IOException($"{name}: the image put aside in {Path} ends early");
            read += n;
        }
        return data;
    }

    public void Dispose()
    {
        if (_file.IsValueCreated) _file.Value.Dispose();
    }
}
