namespace OneDiff.Data.Images;

/// <summary>An 8-bit RGB image, row-major, 3 bytes a pixel.</summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }
    public byte[] Pixels { get; }

    public RgbImage(int width, int height, byte[] pixels)
    {
        if (pixels.Length != width * height * 3) throw new ArgumentException($"{width}x{height} RGB needs {width * height * 3} bytes, got {pixels.Length}");
        Width = width; Height = height; Pixels = pixels;
    }

    public (byte R, byte G, byte B) this[int x, int y]
    {
        get { int i = (y * Width + x) * 3; return (Pixels[i], Pixels[i + 1], Pixels[i + 2]); }
    }
}
