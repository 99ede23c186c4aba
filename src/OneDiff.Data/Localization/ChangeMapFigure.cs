using OneDiff.Data.Images;
using SkiaSharp;

namespace OneDiff.Data.Localization;

/// <summary>
/// Pictures of change maps: each map as a heat map over its image, registered through
/// <see cref="PatchGrid"/> (the model's crop and resize undone), and the figure
/// <c>caption --map</c> writes: before and after side by side, their maps over them, the caption under them.
/// </summary>
public static class ChangeMapFigure
{
    /// <summary>Share of the heat colour in an overlaid pixel.</summary>
    const float Opacity = 0.55f;

    /// <summary>The image with <paramref name="map"/> over it: each pixel tinted by its patch's value
    /// (blue low, red high, relative to the map's maximum); pixels the crop cut away are darkened.</summary>
    public static RgbImage Overlay(RgbImage image, IReadOnlyList<float> map, PatchGrid grid)
    {
        if (grid.Width != image.Width || grid.Height != image.Height)
            throw new ArgumentException($"the grid is for a {grid.Width} x {grid.Height} image, not {image.Width} x {image.Height}", nameof(grid));
        float max = Math.Max(map.Max(), 1e-12f);
        var patches = grid.PixelPatches();
        var output = new byte[image.Pixels.Length];
        for (int i = 0; i < patches.Length; i++)
        {
            var (r, g, b) = patches[i] < 0 ? ((byte)0, (byte)0, (byte)0) : Heat(map[patches[i]] / max);
            float opacity = patches[i] < 0 ? 0.6f : Opacity;
            output[i * 3] = Blend(image.Pixels[i * 3], r, opacity);
            output[i * 3 + 1] = Blend(image.Pixels[i * 3 + 1], g, opacity);
            output[i * 3 + 2] = Blend(image.Pixels[i * 3 + 2], b, opacity);
        }
        return new RgbImage(image.Width, image.Height, output);
    }

    static byte Blend(byte under, byte over, float opacity) => (byte)Math.Clamp(Math.Round(under * (1 - opacity) + over * opacity), 0, 255);

    /// <summary>A blue-cyan-yellow-red ramp over 0..1 (jet without its dark ends).</summary>
    public static (byte R, byte G, byte B) Heat(float v)
    {
        v = Math.Clamp(v, 0, 1);
        float r = Math.Clamp(1.5f - Math.Abs(4 * v - 3), 0, 1), g = Math.Clamp(1.5f - Math.Abs(4 * v - 2), 0, 1), b = Math.Clamp(1.5f - Math.Abs(4 * v - 1), 0, 1);
        return ((byte)(255 * r), (byte)(255 * g), (byte)(255 * b));
    }

    /// <summary>Before and after with their maps, side by side and scaled to
    /// <paramref name="panelSide"/> pixels, with <paramref name="caption"/> wrapped under them.</summary>
    public static RgbImage Compose(RgbImage before, RgbImage after, ChangeMap map, PatchGrid beforeGrid, PatchGrid afterGrid, string caption, int panelSide = 320)
    {
        var panels = new[] { Overlay(before, map.Before, beforeGrid), Overlay(after, map.After, afterGrid) };
        const int margin = 12, lineHeight = 20;
        using var font = new SKFont(SKTypeface.Default, 15);
        var lines = Wrap(caption, font, 2 * panelSide + margin - 2 * margin);
        int width = 2 * panelSide + 3 * margin, height = panelSide + 2 * margin + 20 + lines.Count * lineHeight + margin;
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var surface = SKSurface.Create(info);
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var paint = new SKPaint { IsAntialias = true, Color = SKColors.Black };
        using var sampling = new SKPaint();
        for (int k = 0; k < 2; k++)
        {
            using var bitmap = ImageDecoder.ToBitmap(panels[k]);
            double scale = (double)panelSide / Math.Max(bitmap.Width, bitmap.Height);
            float w = (float)(bitmap.Width * scale), h = (float)(bitmap.Height * scale);
            float left = margin + k * (panelSide + margin) + (panelSide - w) / 2, top = margin + (panelSide - h) / 2;
            using var image = SKImage.FromBitmap(bitmap);
            // Nearest neighbour: a small image's pixels and the patch edges stay sharp.
            canvas.DrawImage(image, SKRect.Create(left, top, w, h), new SKSamplingOptions(SKFilterMode.Nearest), sampling);
            canvas.DrawText(k == 0 ? "before" : "after", margin + k * (panelSide + margin), margin + panelSide + 16, SKTextAlign.Left, font, paint);
        }
        for (int i = 0; i < lines.Count; i++)
            canvas.DrawText(lines[i], margin, margin + panelSide + 20 + (i + 1) * lineHeight, SKTextAlign.Left, font, paint);
        using var snapshot = surface.Snapshot();
        using var pixels = snapshot.PeekPixels();
        var rgba = pixels.GetPixelSpan().ToArray();
        var rgb = new byte[width * height * 3];
        for (int i = 0; i < width * height; i++) { rgb[i * 3] = rgba[i * 4]; rgb[i * 3 + 1] = rgba[i * 4 + 1]; rgb[i * 3 + 2] = rgba[i * 4 + 2]; }
        return new RgbImage(width, height, rgb);
    }

    /// <summary>Figures one under another, on white, for a page of several pairs.</summary>
    public static RgbImage Stack(IReadOnlyList<RgbImage> figures)
    {
        int width = figures.Max(f => f.Width), height = figures.Sum(f => f.Height);
        var pixels = Enumerable.Repeat((byte)255, width * height * 3).ToArray();
        int top = 0;
        foreach (var f in figures)
        {
            for (int y = 0; y < f.Height; y++) Array.Copy(f.Pixels, y * f.Width * 3, pixels, ((top + y) * width) * 3, f.Width * 3);
            top += f.Height;
        }
        return new RgbImage(width, height, pixels);
    }

    static List<string> Wrap(string text, SKFont font, float width)
    {
        var lines = new List<string>();
        var line = "";
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            string next = line.Length == 0 ? word : line + " " + word;
            if (line.Length > 0 && font.MeasureText(next) > width) { lines.Add(line); line = word; }
            else line = next;
        }
        if (line.Length > 0 || lines.Count == 0) lines.Add(line);
        return lines;
    }
}
