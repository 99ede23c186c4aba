using Microsoft.ML;
using Microsoft.ML.Data;
using OneDiff.Data;
using OneDiff.Data.Images;
using OneDiff.Data.Synthetic;
using OneDiff.MLNet;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.MLNet.Tests;

public class ImagePairTableTests
{
    static string Synth()
    {
        string dir = TestPaths.NewTempDir("pairs");
        ProceduralPairGenerator.Write(dir, 6, seed: 2, imageSize: 32, testEvery: 0);
        return dir;
    }

    [Fact]
    public void PathsBytesAndMLImagesAllDecodeToTheSamePixels()
    {
        var ml = new MLContext();
        string dir = Synth();
        var view = ml.DiffCaptioning().LoadDataset("diffcap", dir, "train");
        var fromPaths = ImagePairTable.Read(view, new ImagePairColumns(), requireReferences: true).ToList();
        Assert.Equal(6, fromPaths.Count);
        Assert.True(fromPaths[0].Record.Captions.Count >= 3);

        var bytes = fromPaths.Select(r => new BytesRow { Image1 = File.ReadAllBytes(r.Record.Image1), Image2 = File.ReadAllBytes(r.Record.Image2), References = r.Record.Captions.ToArray() }).ToList();
        var fromBytes = ImagePairTable.Read(ml.Data.LoadFromEnumerable(bytes), new ImagePairColumns { IdColumnName = null, PromptColumnName = null, TaskColumnName = null, GroupColumnName = null }, true).ToList();
        Assert.Equal(fromPaths[2].Image1.Decode().Pixels, fromBytes[2].Image1.Decode().Pixels);

        var images = ml.Transforms.LoadImages("A", null, "Image1").Append(ml.Transforms.LoadImages("B", null, "Image2")).Fit(view).Transform(view);
        var fromMl = ImagePairTable.Read(images, new ImagePairColumns { Image1ColumnName = "A", Image2ColumnName = "B" }, true).ToList();
        Assert.Equal(fromPaths[4].Image2.Decode().Pixels, fromMl[4].Image2.Decode().Pixels);

        var prepared = PairPreprocessor.PrepareAll(fromMl.Select(r => (r.Record, r.Image1, r.Image2, r.Where)), new ClipImageProcessor(16), new DataReport()).ToList();
        Assert.Equal(6, prepared.Count);
        Assert.Equal(3 * 16 * 16, prepared[0].Image1.Length);
    }

    [Fact]
    public void FitOnMLImageColumnsTrainsExactlyAsOnPaths()
    {
        // MLImage pixels wait on disk, reduced to the preprocessing's square: the same floats, so
        // the same losses as reading the files.
        var ml = new MLContext(seed: 1);
        string dir = Synth();
        var view = ml.DiffCaptioning().LoadDataset("diffcap", dir, "train");
        var images = ml.Transforms.LoadImages("A", null, "Image1").Append(ml.Transforms.LoadImages("B", null, "Image2")).Fit(view).Transform(view);
        IReadOnlyList<double> Losses(IDataView data, string a, string b)
        {
            var trainer = ml.DiffCaptioning().Trainers.OneDiff(new DiffCaptionTrainer.Options
            {
                Preset = "Tiny", StageTwoSteps = 4, BatchSize = 3, Device = "cpu", Seed = 5, Image1ColumnName = a, Image2ColumnName = b,
            });
            using var model = trainer.Fit(data);
            return trainer.LossHistory;
        }
        var fromPaths = Losses(view, "Image1", "Image2");
        var fromImages = Losses(images, "A", "B");
        Assert.Equal(4, fromImages.Count);
        Assert.All(fromPaths.Zip(fromImages), x => Assert.Equal(x.First, x.Second, 1e-6));
    }

    sealed class BytesRow
    {
        [VectorType] public byte[] Image1 { get; set; } = [];
        [VectorType] public byte[] Image2 { get; set; } = [];
        [VectorType] public string[] References { get; set; } = [];
    }

    [Fact]
    public void WrongColumnsAreNamed()
    {
        var ml = new MLContext();
        var data = ml.Data.LoadFromEnumerable(new[] { new { Image1 = 1f, Image2 = "b.png", References = "x" } });
        var e = Assert.Throws<ArgumentException>(() => ImagePairTable.Read(data, new ImagePairColumns(), true).ToList());
        Assert.Contains("'Image1'", e.Message);
        var paths = ml.Data.LoadFromEnumerable(new[] { new { Image1 = "a.png", Image2 = "b.png", References = "x" } });
        var missing = Assert.Throws<ArgumentException>(() => ImagePairTable.Read(paths, new ImagePairColumns { Image2ColumnName = "After" }, true).ToList());
        Assert.Contains("'After'", missing.Message);
    }
}
