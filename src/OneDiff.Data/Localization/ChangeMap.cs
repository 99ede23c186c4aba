using OneDiff.Data.Images;

namespace OneDiff.Data.Localization;

/// <summary>
/// Where the model saw the change: a before and an after map over the vision tower's patch grid
/// (<see cref="Size"/> x <see cref="Size"/>, row-major), each summing to 1.
/// </summary>
public sealed record ChangeMap(int Size, float[] Before, float[] After)
{
    /// <summary>Both maps as one (their mean), in the pair's shared frame: what the pointing game scores.</summary>
    public float[] Combined() => Before.Zip(After, (b, a) => (b + a) / 2).ToArray();

    /// <summary>Non-negative values scaled to sum to 1 (all equal where they sum to 0).</summary>
    public static float[] Normalize(IReadOnlyList<float> values)
    {
        double sum = values.Sum(v => Math.Max(0, (double)v));
        return values.Select(v => sum > 0 ? (float)(Math.Max(0, v) / sum) : 1f / values.Count).ToArray();
    }

    /// <summary>The baseline a changed object usually wins: the absolute pixel difference of the two
    /// images as the model sees them (preprocessed to its input), averaged over each patch.</summary>
    public static ChangeMap PixelDifference(RgbImage before, RgbImage after, ClipImageProcessor processor, int grid)
    {
        var a = processor.ResizeAndCrop(before).Pixels;
        var b = processor.ResizeAndCrop(after).Pixels;
        int side = processor.Size, patch = side / grid;
        var map = new float[grid * grid];
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side; x++)
            {
                int i = (y * side + x) * 3;
                map[y / patch * grid + x / patch] += Math.Abs(a[i] - b[i]) + Math.Abs(a[i + 1] - b[i + 1]) + Math.Abs(a[i + 2] - b[i + 2]);
            }
        var normalized = Normalize(map);
        return new ChangeMap(grid, normalized, normalized);
    }

    /// <summary>The map that knows nothing: every patch alike.</summary>
    public static ChangeMap Uniform(int grid)
    {
        var flat = Enumerable.Repeat(1f / (grid * grid), grid * grid).ToArray();
        return new ChangeMap(grid, flat, flat);
    }
}
