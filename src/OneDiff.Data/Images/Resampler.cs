namespace OneDiff.Data.Images;

/// <summary>PIL's separable bicubic resampling (support 2, a = -0.5, the filter widened by the
/// scale when shrinking), with 8-bit rounding after each pass as PIL does.</summary>
public static class Resampler
{
    static double Cubic(double x)
    {
        const double a = -0.5;
        x = Math.Abs(x);
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }

    /// <summary>Per output index: first input index and normalised weights.</summary>
    static (int Start, double[] Weights)[] Coefficients(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = 2.0 * filterScale;
        var result = new (int, double[])[outSize];
        for (int i = 0; i < outSize; i++)
        {
            double center = (i + 0.5) * scale;
            int xmin = Math.Max((int)(center - support + 0.5), 0);
            int xmax = Math.Min((int)(center + support + 0.5), inSize);
            var w = new double[xmax - xmin];
            double total = 0;
            for (int x = xmin; x < xmax; x++) { w[x - xmin] = Cubic((x - center + 0.5) / filterScale); total += w[x - xmin]; }
            if (total != 0) for (int k = 0; k < w.Length; k++) w[k] /= total;
            result[i] = (xmin, w);
        }
        return result;
    }

    static byte Clip8(double v) => v <= 0 ? (byte)0 : v >= 255 ? (byte)255 : (byte)Math.Round(v, MidpointRounding.AwayFromZero);

    /// <returns>RGB bytes of the resized image (width * height * 3).</returns>
    public static byte[] BicubicResize(RgbImage src, int width, int height)
    {
        // Horizontal pass, then vertical (PIL's order), rounding to 8 bits in between.
        var horiz = Coefficients(src.Width, width);
        var tmp = new byte[width * src.Height * 3];
        for (int y = 0; y < src.Height; y++)
            for (int x = 0; x < width; x++)
            {
                var (start, w) = horiz[x];
                double r = 0, g = 0, b = 0;
                for (int k = 0; k < w.Length; k++)
                {
                    int i = (y * src.Width + start + k) * 3;
                    r += w[k] * src.Pixels[i]; g += w[k] * src.Pixels[i + 1]; b += w[k] * src.Pixels[i + 2];
                }
                int o = (y * width + x) * 3;
                tmp[o] = Clip8(r); tmp[o + 1] = Clip8(g); tmp[o + 2] = Clip8(b);
            }
        var vert = Coefficients(src.Height, height);
        var dst = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            var (start, w) = vert[y];
            for (int x = 0; x < width; x++)
            {
                double r = 0, g = 0, b = 0;
                for (int k = 0; k < w.Length; k++)
                {
                    int i = ((start + k) * width + x) * 3;
                    r += w[k] * tmp[i]; g += w[k] * tmp[i + 1]; b += w[k] * tmp[i + 2];
                }
                int o = (y * width + x) * 3;
                dst[o] = Clip8(r); dst[o + 1] = Clip8(g); dst[o + 2] = Clip8(b);
            }
        }
        return dst;
    }
}
