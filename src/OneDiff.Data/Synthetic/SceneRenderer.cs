using OneDiff.Data.Images;
using SkiaSharp;

namespace OneDiff.Data.Synthetic;

/// <summary>Draws a <see cref="Scene"/>: a plain or textured background and flat-coloured shapes.</summary>
public static class SceneRenderer
{
    public static readonly IReadOnlyDictionary<string, (byte R, byte G, byte B)> Palette = new Dictionary<string, (byte, byte, byte)>
    {
        ["red"] = (220, 30, 30), ["green"] = (30, 170, 50), ["blue"] = (30, 60, 220), ["yellow"] = (240, 220, 20),
        ["purple"] = (140, 40, 180), ["orange"] = (250, 140, 10), ["cyan"] = (20, 200, 210), ["white"] = (250, 250, 250),
    };

    public static readonly (byte R, byte G, byte B) Background = (128, 128, 128);

    public static RgbImage Render(Scene scene, int textureSeed)
    {
        int n = scene.Size;
        var info = new SKImageInfo(n, n, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(new SKColor(Background.R, Background.G, Background.B));
            canvas.Translate(scene.ShiftX, scene.ShiftY);
            using var paint = new SKPaint { IsAntialias = false, Style = SKPaintStyle.Fill };
            foreach (var o in scene.Objects)
            {
                var (r, g, b) = Palette[o.Color];
                paint.Color = new SKColor(r, g, b);
                int rad = o.Radius(n);
                switch (o.Shape)
                {
                    case ShapeKind.Circle: canvas.DrawCircle(o.X, o.Y, rad, paint); break;
                    case ShapeKind.Square: canvas.DrawRect(o.X - rad, o.Y - rad, 2 * rad, 2 * rad, paint); break;
                    case ShapeKind.Triangle:
                        using (var path = new SKPath())
                        {
                            path.MoveTo(o.X, o.Y - rad);
                            path.LineTo(o.X + rad, o.Y + rad);
                            path.LineTo(o.X - rad, o.Y + rad);
                            path.Close();
                            canvas.DrawPath(path, paint);
                        }
                        break;
                }
            }
        }
        var rgba = bitmap.Bytes;
        var rgb = new byte[n * n * 3];
        var noise = scene.Textured ? new Random(textureSeed) : null;
        for (int i = 0; i < n * n; i++)
        {
            for (int c = 0; c < 3; c++)
            {
                int v = rgba[i * 4 + c] + scene.Brightness;
                if (noise is not null) v += noise.Next(-6, 7);
                rgb[i * 3 + c] = (byte)Math.Clamp(v, 0, 255);
            }
        }
        return new RgbImage(n, n, rgb);
    }
}
