using OneDiff.Data.Formats;
using OneDiff.Data.Images;
using OneDiff.Data.Localization;
using OneDiff.Data.Synthetic;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Data.Tests;

/// <summary>Change locations of the procedural set, the patch grid's registration with the
/// preprocessing, the pointing game and the map overlay.</summary>
public class LocalizationTests
{
    [Fact]
    public void TheGeneratorRecordsTheChangedObjectsBoxesWhereThePixelsDiffer()
    {
        var pairs = new ProceduralPairGenerator(7) { ImageSize = 64, TexturedShare = 0 }.Generate(80).ToList();
        foreach (var p in pairs)
        {
            if (p.Change == ChangeType.None) { Assert.Empty(p.Locations); continue; }
            Assert.NotEmpty(p.Locations);
            // Every pixel that differs between the two images lies in a recorded box.
            var a = SceneRenderer.Render(p.Before, 1).Pixels;
            var b = SceneRenderer.Render(p.After, 1).Pixels;
            var boxes = p.Locations.SelectMany(l => l.Boxes()).ToList();
            for (int i = 0; i < 64 * 64; i++)
                if (a[i * 3] != b[i * 3] || a[i * 3 + 1] != b[i * 3 + 1] || a[i * 3 + 2] != b[i * 3 + 2])
                    Assert.True(boxes.Any(x => x.Contains(i % 64 + 0.5, i / 64 + 0.5)), $"{p.Id} ({p.Change}): pixel ({i % 64}, {i / 64}) differs outside {string.Join(", ", boxes)}");
        }
        // An added object has no before box, a removed one no after box.
        Assert.All(pairs.Where(p => p.Change == ChangeType.Add), p => Assert.True(p.Locations[0] is { Before: null, After: not null }));
        Assert.All(pairs.Where(p => p.Change == ChangeType.Remove), p => Assert.True(p.Locations[0] is { Before: not null, After: null }));
        Assert.All(pairs.Where(p => p.Change == ChangeType.Swap), p => Assert.Equal(2, p.Locations.Count));
    }

    [Fact]
    public void TheBoxesGoThroughTheDiffCapFileAndABadBoxIsNamed()
    {
        string dir = TestPaths.NewTempDir("located");
        ProceduralPairGenerator.Write(dir, 16, seed: 3, imageSize: 64);
        var records = DiffCapJsonl.Read(Path.Combine(dir, "train.jsonl"));
        var generated = new ProceduralPairGenerator(3) { ImageSize = 64 }.Generate(16).Where((_, i) => i % 5 != 4).ToList();
        Assert.Equal(generated.Select(g => g.Locations), records.Select(r => r.Locations!), new LocationsComparer());

        string bad = Path.Combine(dir, "bad.jsonl");
        File.WriteAllText(bad, """{"id":"x","image1":"images/000000_a.png","image2":"images/000000_b.png","captions":["c"],"changes":[{"change":"move","before":[5,5,2,9]}]}""" + "\n");
        var e = Assert.Throws<DataException>(() => DiffCapJsonl.Read(bad));
        Assert.Contains("bad.jsonl line 1 (id x)", e.Message);
        Assert.Contains("x1 > x0", e.Message);
    }

    sealed class LocationsComparer : IEqualityComparer<IReadOnlyList<ChangeLocation>>
    {
        public bool Equals(IReadOnlyList<ChangeLocation>? x, IReadOnlyList<ChangeLocation>? y) => x!.SequenceEqual(y!);
        public int GetHashCode(IReadOnlyList<ChangeLocation> obj) => obj.Count;
    }

    [Fact]
    public void APatchMapsToThePixelsThePreprocessingCropAndResizeGiveIt()
    {
        // 200 x 100 at a 64-pixel input: resized to 128 x 64 (0.64 times), 32 resized columns cut
        // on each side (50 original ones); 4 x 4 patches of 16, so a patch is 25 x 25 original
        // pixels, the first starting 50 pixels in.
        var grid = new PatchGrid(200, 100, imageSize: 64, grid: 4);
        Assert.Null(grid.PatchAt(49.9, 50));
        Assert.Equal((0, 0), grid.PatchAt(50.1, 0.5));
        Assert.Equal((3, 3), grid.PatchAt(149.9, 99.5));
        Assert.Null(grid.PatchAt(150.1, 50));
        Assert.Equal((50.0, 25.0, 75.0, 50.0), grid.Bounds(1, 0));

        // Checked against the preprocessing itself: a white block on the original lands, after
        // ClipImageProcessor, exactly in the patch the grid names.
        var pixels = new byte[200 * 100 * 3];
        for (int y = 50; y < 75; y++) for (int x = 100; x < 125; x++) for (int c = 0; c < 3; c++) pixels[(y * 200 + x) * 3 + c] = 255;
        var seen = new ClipImageProcessor(64).ResizeAndCrop(new RgbImage(200, 100, pixels));
        var (row, col) = grid.PatchAt(112, 62)!.Value;
        Assert.Equal((2, 2), (row, col));
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 64; x++)
            {
                // Away from the block's edges (the bicubic filter blurs them by a pixel or two).
                bool insidePatch = y / 16 == row && x / 16 == col, deepInside = y % 16 is >= 3 and < 13 && x % 16 is >= 3 and < 13;
                if (insidePatch && deepInside) Assert.True(seen.Pixels[(y * 64 + x) * 3] > 200, $"({x}, {y}) inside the patch is dark");
                if (!insidePatch && (Math.Abs(y / 16 - row) > 1 || Math.Abs(x / 16 - col) > 1)) Assert.Equal(0, seen.Pixels[(y * 64 + x) * 3]);
            }

        // Padded to a square first (LLaVA): no crop; the 100-pixel image sits in the middle rows.
        var padded = new PatchGrid(200, 100, imageSize: 64, grid: 4, padToSquare: true);
        Assert.Equal((1, 0), padded.PatchAt(0.5, 0.5));
        Assert.Equal((2, 3), padded.PatchAt(199.5, 99.5));
        Assert.Equal((0.0, -50.0, 50.0, 0.0), padded.Bounds(0, 0));
    }

    [Fact]
    public void TheOverlayPaintsAKnownPatchOnItsPixelsAndTheFigureHoldsBothImages()
    {
        var image = new RgbImage(200, 100, Enumerable.Repeat((byte)128, 200 * 100 * 3).ToArray());
        var grid = new PatchGrid(200, 100, imageSize: 64, grid: 4);
        var map = new float[16];
        map[1 * 4 + 2] = 1; // row 1, column 2: x 100..125, y 25..50
        var overlay = ChangeMapFigure.Overlay(image, map, grid);
        var hot = ChangeMapFigure.Heat(1);
        var cold = ChangeMapFigure.Heat(0);
        (byte, byte, byte) At(int x, int y) => (overlay.Pixels[(y * 200 + x) * 3], overlay.Pixels[(y * 200 + x) * 3 + 1], overlay.Pixels[(y * 200 + x) * 3 + 2]);
        Assert.Equal(Blend(hot), At(100, 30));
        Assert.Equal(Blend(hot), At(124, 49));
        Assert.Equal(Blend(cold), At(125, 30));
        Assert.Equal(Blend(cold), At(99, 30));
        Assert.Equal(Blend(cold), At(100, 50));
        // Cut away by the crop: darkened, not coloured.
        Assert.Equal(((byte)51, (byte)51, (byte)51), At(10, 10));

        var figure = ChangeMapFigure.Compose(image, image, new ChangeMap(4, map, map), grid, grid, "the red circle moved left and a much longer caption that has to wrap onto a second line under the images");
        Assert.True(figure.Width > 2 * 320 && figure.Height > 320 + 2 * 20);
        Assert.NotEmpty(ImageDecoder.EncodePng(figure));
    }

    static (byte, byte, byte) Blend((byte R, byte G, byte B) heat) =>
        ((byte)Math.Round(128 * 0.45f + heat.R * 0.55f), (byte)Math.Round(128 * 0.45f + heat.G * 0.55f), (byte)Math.Round(128 * 0.45f + heat.B * 0.55f));

    [Fact]
    public void ThePointingGameAndTheMassShareAreCountedAtTheMapsResolution()
    {
        var grid = new PatchGrid(64, 64, imageSize: 64, grid: 4);
        var change = new[] { new ChangeLocation("move", new PixelBox(1, 1, 16, 16), new PixelBox(33, 17, 48, 32)) };
        var peak = new float[16];
        peak[1 * 4 + 2] = 1; // the after box's patch
        var hit = PointingGame.Score(peak, grid, change);
        Assert.Equal(1, hit.Hit);
        Assert.Equal(15 * 15 / 256.0, hit.MassShare, 6);
        var miss = new float[16];
        miss[15] = 1;
        Assert.Equal(0, PointingGame.Score(miss, grid, change).Hit);
        // A uniform map: its ties hit in the share of patches that touch a box (2 of 16).
        var uniform = ChangeMap.Uniform(4);
        var flat = PointingGame.Score(uniform.Combined(), grid, change);
        Assert.Equal(2 / 16.0, flat.Hit, 6);
        Assert.Equal(2 * 225 / 4096.0, flat.MassShare, 6);

        var report = LocalizationEvaluator.Evaluate([
            new LocalizationItem("a", "move", new ChangeMap(4, peak, peak), grid, change),
            new LocalizationItem("b", "move", new ChangeMap(4, miss, miss), grid, change),
            new LocalizationItem("c", "none", uniform, grid, []),
        ]);
        Assert.Equal(new LocalizationScore(2, 0.5, report.Overall.MassShare), report.Overall);
        Assert.Equal(["move"], report.PerGroup.Keys);
        Assert.Equal(1, report.PairsWithoutChange);
    }

    [Fact]
    public void ThePixelDifferenceBaselinePeaksOnTheChangedPatch()
    {
        var a = new RgbImage(64, 64, Enumerable.Repeat((byte)128, 64 * 64 * 3).ToArray());
        var pixels = (byte[])a.Pixels.Clone();
        for (int y = 20; y < 28; y++) for (int x = 36; x < 44; x++) pixels[(y * 64 + x) * 3] = 250;
        var map = ChangeMap.PixelDifference(a, new RgbImage(64, 64, pixels), new ClipImageProcessor(64), 4);
        Assert.Equal(1f, map.Before[1 * 4 + 2], 5);
        Assert.Equal(1f, map.Before.Sum(), 5);
    }
}
