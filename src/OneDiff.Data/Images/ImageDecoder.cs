using SkiaSharp;

namespace OneDiff.Data.Images;

/// <summary>
/// Decodes image files to 8-bit RGB with SkiaSharp (the library under ML.NET's <c>MLImage</c>):
/// grayscale and 16-bit images are converted, alpha is dropped (the stored colour is kept, as PIL's
/// <c>convert("RGB")</c> in transformers' CLIP preprocessing does), and the EXIF orientation is
/// applied. Every failure names the file.
/// </summary>
public static class ImageDecoder
{
    static readonly HashSet<string> Supported = new(StringComparer.OrdinalIgnoreCase) { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp" };

    public static bool IsSupportedExtension(string path) => Supported.Contains(Path.GetExtension(path));

    public static RgbImage Decode(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"image not found: {path}", path);
        if (!IsSupportedExtension(path)) throw new InvalidDataException($"{path}: unsupported image format '{Path.GetExtension(path)}' (png, jpg, jpeg, bmp, gif, webp)");
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length == 0) throw new InvalidDataException($"{path}: the image file is empty");
        return Decode(bytes, path);
    }

    /// <summary>Width and height from the image's header, without decoding its pixels (a
    /// decompression bomb is a small file that declares a huge image: check this first).</summary>
    public static (int Width, int Height) Dimensions(byte[] bytes, string name)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data) ?? throw new InvalidDataException($"{name}: not a decodable image");
        return (codec.Info.Width, codec.Info.Height);
    }

    public static RgbImage Decode(byte[] bytes, string name)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data) ?? throw new InvalidDataException($"{name}: not a decodable image");
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
            throw new InvalidDataException($"{name}: could not decode the image ({result})");
        if (result == SKCodecResult.IncompleteInput)
            throw new InvalidDataException($"{name}: the image is truncated");
        using var oriented = Orient(bitmap, codec.EncodedOrigin);
        return ToRgb(oriented);
    }

    static SKBitmap Orient(SKBitmap src, SKEncodedOrigin origin)
    {
        if (origin == SKEncodedOrigin.TopLeft) return src.Copy();
        bool swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        int w = swap ? src.Height : src.Width, h = swap ? src.Width : src.Height;
        var dst = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using var canvas = new SKCanvas(dst);
        canvas.SetMatrix(OriginMatrix(origin, src.Width, src.Height));
        canvas.DrawBitmap(src, 0, 0);
        return dst;
    }

    /// <summary>The transform that displays an image stored with EXIF origin <paramref name="o"/> upright.</summary>
    static SKMatrix OriginMatrix(SKEncodedOrigin o, int w, int h) => o switch
    {
        SKEncodedOrigin.TopRight => new SKMatrix(-1, 0, w, 0, 1, 0, 0, 0, 1),
        SKEncodedOrigin.BottomRight => new SKMatrix(-1, 0, w, 0, -1, h, 0, 0, 1),
        SKEncodedOrigin.BottomLeft => new SKMatrix(1, 0, 0, 0, -1, h, 0, 0, 1),
        SKEncodedOrigin.LeftTop => new SKMatrix(0, 1, 0, 1, 0, 0, 0, 0, 1),
        SKEncodedOrigin.RightTop => new SKMatrix(0, -1, h, 1, 0, 0, 0, 0, 1),
        SKEncodedOrigin.RightBottom => new SKMatrix(0, -1, h, -1, 0, w, 0, 0, 1),
        SKEncodedOrigin.LeftBottom => new SKMatrix(0, 1, 0, -1, 0, w, 0, 0, 1),
        _ => SKMatrix.Identity,
    };

    static RgbImage ToRgb(SKBitmap bitmap)
    {
        int w = bitmap.Width, h = bitmap.Height;
        var rgba = bitmap.Bytes;
        var rgb = new byte[w * h * 3];
        for (int i = 0, j = 0; i < w * h; i++, j += 4)
        {
            rgb[i * 3] = rgba[j]; rgb[i * 3 + 1] = rgba[j + 1]; rgb[i * 3 + 2] = rgba[j + 2];
        }
        return new RgbImage(w, h, rgb);
    }

    /// <summary>Writes a PNG.</summary>
    public static void SavePng(RgbImage image, string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllBytes(path, EncodePng(image));
    }

    /// <summary>The image as PNG bytes.</summary>
    public static byte[] EncodePng(RgbImage image)
    {
        using var bitmap = ToBitmap(image);
        using var img = SKImage.FromBitmap(bitmap);
        using var png = img.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }

    /// <summary>The image as an opaque RGBA SkiaSharp bitmap (the caller disposes it).</summary>
    internal static SKBitmap ToBitmap(RgbImage image)
    {
        var bitmap = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var rgba = new byte[image.Width * image.Height * 4];
        for (int i = 0; i < image.Width * image.Height; i++)
        {
            rgba[i * 4] = image.Pixels[i * 3]; rgba[i * 4 + 1] = image.Pixels[i * 3 + 1]; rgba[i * 4 + 2] = image.Pixels[i * 3 + 2]; rgba[i * 4 + 3] = 255;
        }
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        return bitmap;
    }

    /// <summary>A copy at most <paramref name="side"/> pixels on its longer side (bicubic), or the image itself when smaller.</summary>
    public static RgbImage Thumbnail(RgbImage image, int side)
    {
        if (Math.Max(image.Width, image.Height) <= side) return image;
        double scale = (double)side / Math.Max(image.Width, image.Height);
        int w = Math.Max(1, (int)Math.Round(image.Width * scale)), h = Math.Max(1, (int)Math.Round(image.Height * scale));
        return new RgbImage(w, h, Resampler.BicubicResize(image, w, h));
    }
}
