using Microsoft.ML;
using OneDiff.Data;
using OneDiff.Data.Readers;
using OneDiff.Data.Synthetic;
using OneDiff.MLNet;
using OneDiff.Tests.Common;
using TorchSharp;
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
            MaxCaptionOverlap = 1.01, MinClipScore = null,
        };
        var catalog = ml.DiffCaptioning();
        var fromList = catalog.MineImagePairs(new LlavaCaptionReader().Read(captions, dir, new DataReport()), options);
        var fromTable = catalog.MineImagePairs(catalog.LoadImageCaptions(captions, dir), options);
        Assert.NotEmpty(fromList.Candidates);
        Assert.Equal(fromList.Candidates.Select(p => (p.First.Image, p.Second.Image, p.First.Caption)), fromTable.Candidates.Select(p => (p.First.Image, p.Second.Image, p.First.Caption)));
        var wrong = ml.Data.LoadFromEnumerable(new[] { new { Path = "a.png", Caption = "x" } });
        Assert.Contains("the image table has no column 'Image'", Assert.Throws<ArgumentException>(() => catalog.MineImagePairs(wrong, options)).Message);
    }

    /// <summary>Pairs (2i, 2i+1) of unit vectors with cosine similarities[i], orthogonal across pairs.</summary>
    static torch.Tensor KnownPairs(double[] similarities)
    {
        int n = similarities.Length;
        var data = new float[2 * n * 2 * n];
        for (int i = 0; i < n; i++)
        {
            data[2 * i * 2 * n + 2 * i] = 1;
            data[(2 * i + 1) * 2 * n + 2 * i] = (float)similarities[i];
            data[(2 * i + 1) * 2 * n + 2 * i + 1] = (float)Math.Sqrt(1 - similarities[i] * similarities[i]);
        }
        return torch.tensor(data, [2 * n, 2 * n]);
    }

    [Fact]
    public void TheBandAndTheCaptionRuleKeepExactlyTheExpectedPairs()
    {
        OneDiff.Modeling.Runtime.TorchNativeLoader.EnsureLoaded();
        // Pairs by similarity, with captions that differ, or repeat with a word more or less.
        var cases = new (double Similarity, string A, string B)[]
        {
            (0.70, "a dog on a couch", "a cat on a couch"),                       // below the band
            (0.75, "a red bus on a street", "a blue bus on a street"),            // in
            (0.80, "a man riding a wave on top of a surfboard", "a man riding a wave on a surfboard"), // in, captions alike
            (0.90, "a kitchen with a white refrigerator", "a kitchen with a wooden table"), // in
            (0.93, "two dogs play in the snow", "Two dogs play in the snow!"),     // in, captions the same
            (0.94, "a plate of food", "a bowl of soup"),                           // at the top: out
        };
        var images = cases.SelectMany((c, i) => new[] { new ImageCaption($"i{i}a", $"i{i}a.png", c.A), new ImageCaption($"i{i}b", $"i{i}b.png", c.B) }).ToList();
        using var embeddings = KnownPairs(cases.Select(c => c.Similarity).ToArray());
        var options = new ImagePairMiningOptions { ClipFolder = "." };
        using var ch = ((Microsoft.ML.Runtime.IHostEnvironment)new MLContext()).Start("test");
        var mined = DiffCaptioningCatalog.PairFiltered(embeddings, images, options, ch);
        Assert.Equal(["i1a~i1b", "i3a~i3b"], mined.Candidates.Select(c => c.Id));
        Assert.Equal(["i2a~i2b", "i4a~i4b"], mined.PairsWithAlikeCaptions.Select(p => p.Id));
        Assert.Equal([0.8, 1.0], mined.PairsWithAlikeCaptions.Select(p => p.CaptionOverlap));
        Assert.Equal([0.8, 0.93], mined.PairsWithAlikeCaptions.Select(p => Math.Round(p.Similarity, 4)));
        // Without the caption rule the two alike pairs are candidates too.
        Assert.Equal(4, DiffCaptioningCatalog.PairFiltered(embeddings, images, options with { MaxCaptionOverlap = 1.01 }, ch).Candidates.Count);
    }

    [Fact]
    public void TheImageTextFilterLeavesOutScoresNotOver40OnCLIPScoresScale()
    {
        // CLIPScore = 100 x 2.5 x max(cos, 0): 40 is a cosine of 0.16.
        Assert.Equal(40, DiffCaptioningCatalog.ClipScore(0.16), 9);
        Assert.Equal(0, DiffCaptioningCatalog.ClipScore(-0.3));
        var images = Enumerable.Range(0, 5).Select(i => new ImageCaption($"img{i}", $"img{i}.png", $"caption {i}")).ToList();
        double[] cosines = [0.31, 0.16, 0.1601, -0.05, 0.12];
        var (keep, unlike) = DiffCaptioningCatalog.LeaveOutUnlikeCaptions(images, cosines, 40);
        Assert.Equal([0, 2], keep);
        Assert.Equal(["img1", "img3", "img4"], unlike.Select(u => u.Id));
        Assert.Equal([40.0, 0.0, 30.0], unlike.Select(u => u.ClipScore));
    }
}
