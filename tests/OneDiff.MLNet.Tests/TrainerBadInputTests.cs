using Microsoft.ML;
using Microsoft.ML.Data;
using OneDiff.Data;
using OneDiff.Data.Synthetic;
using OneDiff.MLNet;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.MLNet.Tests;

public class TrainerBadInputTests
{
    sealed class BytesRow
    {
        [VectorType] public byte[] Image1 { get; set; } = [];
        [VectorType] public byte[] Image2 { get; set; } = [];
        [VectorType] public string[] References { get; set; } = [];
    }

    /// <summary>Eight procedural pairs as encoded bytes, the second image of row 5 cut in half.</summary>
    static IDataView PairsWithATruncatedImage(MLContext ml)
    {
        string dir = TestPaths.NewTempDir("bad-fit");
        ProceduralPairGenerator.Write(dir, 8, seed: 3, imageSize: 64, testEvery: 0);
        var rows = ImagePairTable.Read(ml.DiffCaptioning().LoadDataset("diffcap", dir, "train"), new ImagePairColumns(), true)
            .Select(r => new BytesRow { Image1 = File.ReadAllBytes(r.Record.Image1), Image2 = File.ReadAllBytes(r.Record.Image2), References = r.Record.Captions.ToArray() })
            .ToList();
        rows[5].Image2 = rows[5].Image2[..(rows[5].Image2.Length / 2)];
        return ml.Data.LoadFromEnumerable(rows);
    }

    static DiffCaptionTrainer Trainer(MLContext ml, bool validate) => ml.DiffCaptioning().Trainers.OneDiff(new DiffCaptionTrainer.Options
    {
        Preset = "Tiny", StageTwoSteps = 6, BatchSize = 2, Device = "cpu", PromptColumnName = null, TaskColumnName = null, CheckImages = validate,
    });

    [Fact]
    public void ABadImageStopsFitBeforeTheFirstStepNamingRowAndColumn()
    {
        var ml = new MLContext(seed: 1);
        var trainer = Trainer(ml, validate: true);
        var e = Assert.Throws<DataException>(() => trainer.Fit(PairsWithATruncatedImage(ml)));
        Assert.Equal("row 5", e.Problem.Record); // a row index is a row, not an id
        Assert.Equal("column 'Image2'", e.Problem.File);
        Assert.Contains("truncated", e.Problem.Message);
        Assert.Equal("row 5: the image is truncated (column 'Image2')", e.Message);
        Assert.Empty(trainer.LossHistory);
    }

    [Fact]
    public void WithoutTheCheckTheBatchThatLoadsItFailsWithTheSameError()
    {
        var ml = new MLContext(seed: 1);
        var e = Assert.Throws<DataException>(() => Trainer(ml, validate: false).Fit(PairsWithATruncatedImage(ml)));
        Assert.Equal("row 5", e.Problem.Record);
        Assert.Equal("column 'Image2'", e.Problem.File);
    }

    sealed class PathRow
    {
        public string Image1 { get; set; } = "";
        public string Image2 { get; set; } = "";
        [VectorType] public string[] References { get; set; } = [];
    }

    /// <summary>Four procedural pairs as a table of image paths.</summary>
    static (string Dir, List<PathRow> Rows) PathRows(MLContext ml, string name)
    {
        string dir = TestPaths.NewTempDir(name);
        ProceduralPairGenerator.Write(dir, 4, seed: 3, imageSize: 32, testEvery: 0);
        var rows = ImagePairTable.Read(ml.DiffCaptioning().LoadDataset("diffcap", dir, "train"), new ImagePairColumns(), true)
            .Select(r => new PathRow { Image1 = r.Record.Image1, Image2 = r.Record.Image2, References = r.Record.Captions.ToArray() }).ToList();
        return (dir, rows);
    }

    [Fact]
    public void AMissingFileOfAPathColumnIsNamedOnceWithItsRow()
    {
        var ml = new MLContext(seed: 1);
        var (dir, rows) = PathRows(ml, "missing-path");
        string missing = Path.Combine(dir, "images", "gone.png");
        rows[3].Image2 = missing;
        var e = Assert.Throws<DataException>(() => Trainer(ml, validate: true).Fit(ml.Data.LoadFromEnumerable(rows)));
        Assert.Equal($"row 3: image not found ({missing})", e.Message);
    }

    [Fact]
    public void AFileThatMLNetsLoadImagesCannotFindIsNamedWithItsRowAndColumn()
    {
        // The ML.NET way: both images loaded by LoadImages in the same chain as the trainer.
        var ml = new MLContext(seed: 1);
        var (dir, rows) = PathRows(ml, "load-images");
        string missing = Path.Combine(dir, "images", "gone.png");
        rows[2].Image1 = missing;
        var data = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.LoadImages("Before", null, "Image1").Append(ml.Transforms.LoadImages("After", null, "Image2"))
            .Append(ml.DiffCaptioning().Trainers.OneDiff(new DiffCaptionTrainer.Options
            {
                Preset = "Tiny", StageTwoSteps = 1, BatchSize = 2, Device = "cpu", Image1ColumnName = "Before", Image2ColumnName = "After",
            }));
        var e = Assert.Throws<DataException>(() => pipeline.Fit(data));
        Assert.Equal("row 2", e.Problem.Record);
        Assert.Equal(missing, e.Problem.File);
        Assert.StartsWith("row 2: column 'Before' (LoadImages) could not read the image: ", e.Message);
        Assert.EndsWith($"({missing})", e.Message);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(e.Message, System.Text.RegularExpressions.Regex.Escape(missing)));
    }
}
