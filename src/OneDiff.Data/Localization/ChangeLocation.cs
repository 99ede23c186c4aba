using System.Globalization;

namespace OneDiff.Data.Localization;

/// <summary>A rectangle of an image in pixels: columns <see cref="X0"/> to <see cref="X1"/> and
/// rows <see cref="Y0"/> to <see cref="Y1"/>, the ends excluded.</summary>
public readonly record struct PixelBox(int X0, int Y0, int X1, int Y1)
{
    public bool Contains(double x, double y) => x >= X0 && x < X1 && y >= Y0 && y < Y1;

    /// <summary>Whether the two rectangles share any area.</summary>
    public bool Overlaps(double x0, double y0, double x1, double y1) => x0 < X1 && x1 > X0 && y0 < Y1 && y1 > Y0;

    public int[] ToArray() => [X0, Y0, X1, Y1];

    public static PixelBox FromArray(IReadOnlyList<int> v, string where)
    {
        if (v.Count != 4 || v[2] <= v[0] || v[3] <= v[1])
            throw new InvalidDataException($"{where}: a box is [x0, y0, x1, y1] with x1 > x0 and y1 > y0, not [{string.Join(", ", v)}]");
        return new PixelBox(v[0], v[1], v[2], v[3]);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"[{X0}, {Y0}, {X1}, {Y1}]");
}

/// <summary>Where one change is: the changed object's box in the before and in the after image,
/// null in an image the object is not in (an added object has no before box, a removed one no
/// after box). Both images of a pair share one pixel frame.</summary>
public sealed record ChangeLocation(string Change, PixelBox? Before, PixelBox? After)
{
    /// <summary>The boxes of this change, in either image.</summary>
    public IEnumerable<PixelBox> Boxes()
    {
        if (Before is { } b) yield return b;
        if (After is { } a) yield return a;
    }
}
