namespace OneDiff.Data.Localization;

/// <summary>One pair's map against its known changes.</summary>
/// <param name="Hit">the pointing game: the map's highest patch covers part of a changed object's box
/// (for a map with ties, the share of its highest patches that do: a uniform map scores the area share).</param>
/// <param name="MassShare">the share of the map's mass on the boxes' pixels.</param>
public sealed record PointingResult(double Hit, double MassShare);

/// <summary>
/// The pointing game (Zhang et al., 2016; DUDA scores change maps with it) at the map's own
/// resolution: a patch is the finest place a patch-grid map can point to, so a hit is the highest
/// patch's pixels overlapping a changed object's box, in either image (both share one frame). With
/// the share of the map's mass inside the boxes beside it.
/// </summary>
public static class PointingGame
{
    public static PointingResult Score(IReadOnlyList<float> map, PatchGrid grid, IReadOnlyList<ChangeLocation> changes)
    {
        if (map.Count != grid.Size * grid.Size) throw new ArgumentException($"a {grid.Size} x {grid.Size} grid needs {grid.Size * grid.Size} values, not {map.Count}", nameof(map));
        var boxes = changes.SelectMany(c => c.Boxes()).ToList();
        if (boxes.Count == 0) throw new ArgumentException("no change has a box: nothing to point at", nameof(changes));
        float max = map.Max();
        var top = Enumerable.Range(0, map.Count).Where(i => map[i] == max).ToList();
        double hit = top.Count(i => Covers(grid, i, boxes)) / (double)top.Count;

        var patches = grid.PixelPatches();
        double inside = 0, total = 0;
        for (int y = 0; y < grid.Height; y++)
            for (int x = 0; x < grid.Width; x++)
            {
                int p = patches[y * grid.Width + x];
                if (p < 0) continue;
                total += map[p];
                if (boxes.Any(b => b.Contains(x + 0.5, y + 0.5))) inside += map[p];
            }
        return new PointingResult(hit, total > 0 ? inside / total : 0);
    }

    static bool Covers(PatchGrid grid, int patch, List<PixelBox> boxes)
    {
        var (x0, y0, x1, y1) = grid.Bounds(patch / grid.Size, patch % grid.Size);
        return boxes.Any(b => b.Overlaps(x0, y0, x1, y1));
    }
}
