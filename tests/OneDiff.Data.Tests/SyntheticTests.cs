using OneDiff.Data.Formats;
using OneDiff.Data.Images;
using OneDiff.Data.Synthetic;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.Data.Tests;

public class SyntheticTests
{
    [Fact]
    public void TheGeneratorIsDeterministicBySeed()
    {
        var a = new ProceduralPairGenerator(42).Generate(40).ToList();
        var b = new ProceduralPairGenerator(42).Generate(40).ToList();
        var c = new ProceduralPairGenerator(43).Generate(40).ToList();
        Assert.Equal(a.Select(p => string.Join("|", p.Captions)), b.Select(p => string.Join("|", p.Captions)));
        Assert.NotEqual(a.Select(p => string.Join("|", p.Captions)), c.Select(p => string.Join("|", p.Captions)));
        Assert.Equal(SceneRenderer.Render(a[5].After, 11).Pixels, SceneRenderer.Render(b[5].After, 11).Pixels);
    }

    [Fact]
    public void EveryChangeTypeOccursAndItsCaptionsNameTheObjectAndTheChange()
    {
        var pairs = new ProceduralPairGenerator(7).Generate(80).ToList();
        Assert.Equal(Enum.GetValues<ChangeType>().Order(), pairs.Select(p => p.Change).Distinct().Order());
        foreach (var p in pairs)
        {
            Assert.True(p.Captions.Count >= 3, $"{p.Id}: {p.Captions.Count} phrasings");
            string all = string.Join(" ", p.Captions);
            switch (p.Change)
            {
                case ChangeType.None: Assert.Matches("same|no |nothing|identical", all); break;
                case ChangeType.Add: Assert.Contains(p.After.Objects.Except(p.Before.Objects).Single().Name, all); Assert.Contains("appeared", all); break;
                case ChangeType.Remove: Assert.Contains(p.Before.Objects.Except(p.After.Objects).Single().Name, all); Assert.Contains("gone", all); break;
                case ChangeType.Move: Assert.Contains("moved", all); break;
                case ChangeType.Recolour: Assert.Contains("now", all); break;
                case ChangeType.Resize: Assert.True(all.Contains("bigger") || all.Contains("smaller")); break;
                case ChangeType.Swap: Assert.Contains("swapped", all); break;
                case ChangeType.Multiple: Assert.Contains(" and ", all); break;
            }
        }
    }

    static (byte, byte, byte) At(RgbImage img, int x, int y) => img[x, y];

    static bool Near((byte R, byte G, byte B) a, (byte R, byte G, byte B) b, int tol = 20) =>
        Math.Abs(a.R - b.R) <= tol && Math.Abs(a.G - b.G) <= tol && Math.Abs(a.B - b.B) <= tol;

    [Fact]
    public void EachChangeTypeCanBeCheckedFromTheRenderedPixels()
    {
        var generator = new ProceduralPairGenerator(11) { TexturedShare = 0 };
        int checkedPairs = 0;
        foreach (var p in generator.Generate(64))
        {
            var a = SceneRenderer.Render(p.Before, 1);
            var b = SceneRenderer.Render(p.After, 2);
            var bg = SceneRenderer.Background;
            var color = SceneRenderer.Palette;
            var removed = p.Before.Objects.Where(o => !p.After.Objects.Any(n => n.Name == o.Name)).ToList();
            var added = p.After.Objects.Where(n => !p.Before.Objects.Any(o => o.Name == n.Name)).ToList();
            switch (p.Change)
            {
                case ChangeType.Add:
                    var o1 = added.Single();
                    Assert.True(Near(At(a, o1.X, o1.Y), bg) && Near(At(b, o1.X, o1.Y), color[o1.Color]), $"{p.Id} add");
                    break;
                case ChangeType.Remove:
                    var o2 = removed.Single();
                    Assert.True(Near(At(a, o2.X, o2.Y), color[o2.Color]) && Near(At(b, o2.X, o2.Y), bg), $"{p.Id} remove");
                    break;
                case ChangeType.Move:
                    var moved = p.After.Objects.Single(n => p.Before.Objects.Any(o => o.Name == n.Name && (o.X != n.X || o.Y != n.Y)));
                    var from = p.Before.Objects.Single(o => o.Name == moved.Name);
                    Assert.True(Near(At(a, from.X, from.Y), color[from.Color]) && Near(At(b, from.X, from.Y), bg) && Near(At(b, moved.X, moved.Y), color[moved.Color]), $"{p.Id} move");
                    break;
                case ChangeType.Recolour:
                    var old = removed.Single();
                    var now = added.Single();
                    Assert.True(Near(At(a, old.X, old.Y), color[old.Color]) && Near(At(b, old.X, old.Y), color[now.Color]), $"{p.Id} recolour");
                    break;
                case ChangeType.Resize:
                    var r = p.After.Objects.Single(n => p.Before.Objects.Any(o => o.Name == n.Name && o.Large != n.Large));
                    // Just inside the large radius, outside the small one: shape in one image only (to the side for all shapes).
                    int probe = (r.Radius(p.Before.Size) + (r with { Large = !r.Large }).Radius(p.Before.Size)) / 2;
                    bool inA = Near(At(a, r.X, r.Y + probe - 1), color[r.Color]), inB = Near(At(b, r.X, r.Y + probe - 1), color[r.Color]);
                    Assert.True(inA != inB, $"{p.Id} resize");
                    break;
                case ChangeType.Swap:
                    var pair = p.After.Objects.Where(n => p.Before.Objects.Any(o => o.Name == n.Name && (o.X != n.X || o.Y != n.Y))).ToList();
                    Assert.Equal(2, pair.Count);
                    Assert.True(Near(At(b, pair[0].X, pair[0].Y), color[pair[0].Color]) && Near(At(a, pair[0].X, pair[0].Y), color[pair[1].Color]), $"{p.Id} swap");
                    break;
                case ChangeType.None:
                    foreach (var o in p.Before.Objects)
                        Assert.True(Near(At(b, o.X, o.Y), color[o.Color], 30), $"{p.Id} none: {o.Name} should still be there");
                    break;
                default: continue;
            }
            checkedPairs++;
        }
        Assert.True(checkedPairs >= 50);
    }

    [Fact]
    public void WrittenDatasetReadsBackWithEveryPhrasingAndTheChangeAsGroup()
    {
        string dir = TestPaths.NewTempDir("synth");
        var (train, test) = ProceduralPairGenerator.Write(dir, 50, seed: 3, imageSize: 64);
        Assert.Equal(40, train);
        Assert.Equal(10, test);
        var records = DiffCapJsonl.Read(Path.Combine(dir, "test.jsonl"));
        Assert.Equal(10, records.Count);
        Assert.All(records, r => Assert.True(File.Exists(r.Image1) && File.Exists(r.Image2)));
        Assert.All(records, r => Assert.True(r.Captions.Count >= 3));
        Assert.Contains(records, r => r.Group == "none");
        var img = ImageDecoder.Decode(records[0].Image1);
        Assert.Equal(64, img.Width);
    }
}
