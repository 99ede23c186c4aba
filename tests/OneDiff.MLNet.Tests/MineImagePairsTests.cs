using Microsoft.ML;
using OneDiff.Data;
using OneDiff.Data.Readers;
using OneDiff.Data.Synthetic;
using OneDiff.MLNet;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.MLNet.Tests;

public class MineImagePairsTests
{
    [Fact]
    public void AnImageTableMinesTheSamePairsAsTheList()
    {
        var ml = new MLContext(seed: 1);
        string dir = TestPaths.NewTempDir("mine-table");
        ProceduralPairGenerator.Write(dir, 8, seed: 6, imageSize: 32, testEvery: 0);
        string captions = Path.Combine(dir, "captions.json");
        var options = new ImagePairMiningOptions
        {
            ClipFolder = Path.Combine(TestPaths.HfFixtures, "clip_full"), Neighbors = 2, MinSimilarity = -1, MaxSimilarity = 1.01, Device = "cpu", BatchSize = 3,
        };
        var catalog = ml.DiffCaptioning();
        var fromList = catalog.MineImagePairs(new LlavaCaptionReader().Read(captions, dir, new DataReport()), options);
        var fromTable = catalog.MineImagePairs(catalog.LoadImageCaptions(captions, dir), options);
        Assert.NotEmpty(fromList);
        Assert.Equal(fromList.Select(p => (p.First.Image, p.Second.Image, p.First.Caption)), fromTable.Select(p => (p.First.Image, p.Second.Image, p.First.Caption)));
        var wrong = ml.Data.LoadFromEnumerable(new[] { new { Path = "a.png", Caption = "x" } });
        Assert.Contains("the image table has no column 'Image'", Assert.Throws<ArgumentException>(() => catalog.MineImagePairs(wrong, options)).Message);
    }
}
