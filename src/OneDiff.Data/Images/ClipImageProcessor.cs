namespace OneDiff.Data.Images;

/// <summary>
/// CLIP preprocessing as Hugging Face's <c>CLIPImageProcessor</c> does it: resize the shortest side
/// with PIL's bicubic filter (antialiased, a = -0.5), centre-crop, scale to [0, 1] and normalise
/// with CLIP's mean and std, channels first. <see cref="PadToSquare"/> is LLaVA's option: pad to a
/// square with the mean colour before resizing.
/// </summary>
public sealed class ClipImageProcessor
{
    public static readonly float[] ClipMean = [0.48145466f, 0.4578275f, 0.40821073f];
    public static readonly float[] ClipStd = [0.26862954f, 0.26130258f, 0.27577711f];

    public int Size { get; }
    public bool PadToSquare { get; }

    public ClipImageProcessor(int size = 336, bool padToSquare = false) { Size = size; PadToSquare = padToSquare; }

    /// <summary>(3, Size, Size) floats, channels first.</summary>
    public float[] Process(RgbImage image) => Normalize(ResizeAndCrop(image));

    /// <summary>The 8-bit Size x Size image the floats are computed from (padded, resized, cropped):
    /// what a store of preprocessed images keeps; <see cref="Process"/> of it gives the same floats,
    /// since an image already at Size x Size is not resampled again (as PIL skips a same-size resize).</summary>
    public RgbImage ResizeAndCrop(RgbImage image)
    {
        if (PadToSquare) image = Pad(image);
        if (image.Width == Size && image.Height == Size) return image;
        // Shortest side to Size; the long side as int(Size * long / short), as transformers computes it.
        int w, h;
        if (image.Width <= image.Height) { w = Size; h = (int)((long)Size * image.Height / image.Width); }
        else { h = Size; w = (int)((long)Size * image.Width / image.Height); }
        var resized = Resampler.BicubicResize(image, w, h);
        int top = (h - Size) / 2, left = (w - Size) / 2;
        var cropped = new byte[Size * Size * 3];
        for (int y = 0; y < Size; y++)
            Array.Copy(resized, ((top + y) * w + left) * 3, cropped, y * Size * 3, Size * 3);
        return new RgbImage(Size, Size, cropped);
    }

    /// <summary>Scales a Size x Size image to [0, 1] and normalises it with CLIP's mean and std, channels first.</summary>
    float[] Normalize(RgbImage image)
    {
        var px = image.Pixels;
        var output = new float[3 * Size * Size];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < Size; y++)
                for (int x = 0; x < Size; x++)
                {
                    float v = px[(y * Size + x) * 3 + c] / 255f;
                    output[(c * Size + y) * Size + x] = (v - ClipMean[c]) / ClipStd[c];
                }
        return output;
    }

    static RgbImage Pad(RgbImage image)
    {
        int side = Math.Max(image.Width, image.Height);
        if (image.Width == image.Height) return image;
        var pixels = new byte[side * side * 3];
        var mean = ClipMean.Select(m => (byte)(int)(m * 255)).ToArray();
        for (int i = 0; i < side * side; i++) { pixels[i * 3] = mean[0]; pixels[i * 3 + 1] = mean[1]; pixels[i * 3 + 2] = mean[2]; }
        int ox = (side - image.Width) / 2, oy = (side - image.Height) / 2;
        for (int y = 0; y < image.Height; y++)
            Array.Copy(image.Pixels, y * image.Width * 3, pixels, ((oy + y) * side + ox) * 3, image.Width * 3);
        return new RgbImage(side, side, pixels);
    }
}
