using Microsoft.Win32.SafeHandles;

namespace OneDiff.Data.Images;

/// <summary>
/// Decoded images put aside in a temporary file instead of memory, each already reduced to the
/// 8-bit square the CLIP preprocessing computes its floats from (<see cref="ClipImageProcessor.ResizeAndCrop"/>,
/// 0.33 MB at 336 px whatever the original size). For images that arrive decoded (ML.NET's
/// <c>MLImage</c> columns), so that training holds none of them in memory and reads each back when
/// its batch comes. Reads may run on several threads at once; the file is deleted on dispose.
/// </summary>
public sealed class PixelSpill : IDisposable
{
    readonly ClipImageProcessor _processor;
    readonly Lazy<SafeFileHandle> _file;
    long _length;

    /// <param name="folder">where the temporary file goes (default: the system's temp folder); it is
    /// created with the first image, so a table without decoded images costs nothing.</param>
    public PixelSpill(ClipImageProcessor processor, string? folder = null)
    {
        _processor = processor;
        Path = System.IO.Path.Combine(folder ?? System.IO.Path.GetTempPath(), $"onediff-pixels-{Guid.NewGuid():N}.bin");
        _file = new Lazy<SafeFileHandle>(() => File.OpenHandle(Path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose));
    }

    /// <summary>The temporary file (gone after dispose).</summary>
    public string Path { get; }

    /// <summary>Bytes written so far.</summary>
    public long Length => Interlocked.Read(ref _length);

    /// <summary>Reduces the image, writes it out, and returns an input that reads it back.</summary>
    public ImageInput Add(RgbImage image, string name)
    {
        var square = _processor.ResizeAndCrop(image);
        int side = square.Width;
        long offset = Interlocked.Add(ref _length, square.Pixels.Length) - square.Pixels.Length;
        RandomAccess.Write(_file.Value, square.Pixels, offset);
        return new ImageInput
        {
            Name = name,
            Load = () =>
            {
                var pixels = new byte[side * side * 3];
                int read = 0;
                while (read < pixels.Length)
                {
                    int n = RandomAccess.Read(_file.Value, pixels.AsSpan(read), offset + read);
                    if (n <= 0) throw new IOException($"{name}: the put-aside pixels in {Path} end early");
                    read += n;
                }
                return new RgbImage(side, side, pixels);
            },
        };
    }

    public void Dispose()
    {
        if (_file.IsValueCreated) _file.Value.Dispose();
    }
}
