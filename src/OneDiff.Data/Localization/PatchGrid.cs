using OneDiff.Data.Images;

namespace OneDiff.Data.Localization;

/// <summary>
/// Where the vision tower's patches lie in an image as the user has it: the inverse of
/// <see cref="ClipImageProcessor"/>'s geometry (pad to a square where asked, shortest side resized
/// to the model's size, centre crop), so a map over the patch grid lands on the right pixels.
/// Pixels the crop cuts away were never seen and belong to no patch.
/// </summary>
public sealed class PatchGrid
{
    readonly double _scaleX, _scaleY, _offsetX, _offsetY, _patch;

    /// <summary>The original image's width and height in pixels.</summary>
    public int Width { get; }
    public int Height { get; }
    /// <summary>Patches per side (the map is <see cref="Size"/> x <see cref="Size"/>, row-major).</summary>
    public int Size { get; }

    /// <param name="width">the image's width as given.</param>
    /// <param name="height">its height.</param>
    /// <param name="imageSize">the model's input side (CLIP's crop size).</param>
    /// <param name="grid">patches per side (image size / patch size).</param>
    /// <param name="padToSquare">whether preprocessing pads to a square first (LLaVA's option).</param>
    public PatchGrid(int width, int height, int imageSize, int grid, bool padToSquare = false)
    {
        if (width < 1 || height < 1) throw new ArgumentOutOfRangeException(nameof(width), $"an image of {width} x {height} pixels has no area");
        if (grid < 1 || imageSize % grid != 0) throw new ArgumentOutOfRangeException(nameof(grid), $"{grid} patches per side do not divide {imageSize} pixels");
        (Width, Height, Size) = (width, height, grid);
        _patch = imageSize / (double)grid;
        if (padToSquare)
        {
            // Padded to side x side around the image, then resized to imageSize without a crop.
            int side = Math.Max(width, height);
            _scaleX = _scaleY = imageSize / (double)side;
            _offsetX = (side - width) / 2 * _scaleX;
            _offsetY = (side - height) / 2 * _scaleY;
            return;
        }
        // As ClipImageProcessor: the shortest side to imageSize, the other int(imageSize * long / short).
        int w, h;
        if (width <= height) { w = imageSize; h = (int)((long)imageSize * height / width); }
        else { h = imageSize; w = (int)((long)imageSize * width / height); }
        _scaleX = w / (double)width;
        _scaleY = h / (double)height;
        // The crop starts this far into the resized image; in model coordinates the image starts before 0.
        _offsetX = -((w - imageSize) / 2);
        _offsetY = -((h - imageSize) / 2);
    }

    /// <summary>Model-input coordinates (0..imageSize) of an image point.</summary>
    (double X, double Y) ToModel(double x, double y) => (x * _scaleX + _offsetX, y * _scaleY + _offsetY);

    /// <summary>The patch (row, column) that sees the image point (x, y), or null where the crop cut it away.</summary>
    public (int Row, int Column)? PatchAt(double x, double y)
    {
        var (mx, my) = ToModel(x, y);
        int col = (int)Math.Floor(mx / _patch), row = (int)Math.Floor(my / _patch);
        return col < 0 || row < 0 || col >= Size || row >= Size ? null : (row, col);
    }

    /// <summary>The image rectangle a patch sees: x0, y0, x1, y1 in image pixels (may reach past
    /// the image's edge where preprocessing padded it).</summary>
    public (double X0, double Y0, double X1, double Y1) Bounds(int row, int column) =>
        ((column * _patch - _offsetX) / _scaleX, (row * _patch - _offsetY) / _scaleY,
         ((column + 1) * _patch - _offsetX) / _scaleX, ((row + 1) * _patch - _offsetY) / _scaleY);

    /// <summary>Each image pixel's patch index (row * Size + column), -1 where it is outside the crop.</summary>
    public int[] PixelPatches()
    {
        var index = new int[Width * Height];
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
                index[y * Width + x] = PatchAt(x + 0.5, y + 0.5) is { } p ? p.Row * Size + p.Column : -1;
        return index;
    }
}
