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
        Assert.Equal("id 5", e.Problem.Record);
        Assert.Equal("row 5 column 'Image2'", e.Problem.File);
        Assert.Contains("truncated", e.Problem.Message);
        Assert.Empty(trainer.LossHistory);
    }

    [Fact]
    public void WithoutTheCheckTheBatchThatLoadsItFailsWithTheSameError()
    {
        var ml = new MLContext(seed: 1);
        var e = Assert.Throws<DataException>(() => Trainer(ml, validate: false).Fit(PairsWithATruncatedImage(ml)));
        Assert.Equal("id 5", e.Problem.Record);
        Assert.Equal("row 5 column 'Image2'", e.Problem.File);
    }
}
