using Microsoft.ML;
using OneDiff.Data.Synthetic;
using OneDiff.MLNet;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.MLNet.Tests;

public class TrainerValidationTests
{
    [Fact]
    public void ValidationIsScoredOverallAndPerChangeType()
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { if (e.Source.StartsWith("OneDiff", StringComparison.Ordinal)) lock (messages) messages.Add(e.RawMessage); };
        string dir = TestPaths.NewTempDir("validation");
        ProceduralPairGenerator.Write(dir, 20, seed: 4, imageSize: 32, testEvery: 4);
        var catalog = ml.DiffCaptioning();
        var train = catalog.LoadDataset("diffcap", dir, "train");
        var test = catalog.LoadDataset("diffcap", dir, "test");
        var groups = ml.Data.CreateEnumerable<ImagePairTable.PairRow>(test, reuseRowObject: false).Select(r => r.Group).Distinct().Order(StringComparer.Ordinal).ToList();
        Assert.True(groups.Count > 1);

        var trainer = catalog.Trainers.OneDiff(new DiffCaptionTrainer.Options
        {
            Preset = "Tiny", StageTwoSteps = 2, BatchSize = 4, Device = "cpu", MaxNewTokens = 4, ValidationData = test,
        });
        using (var model = trainer.Fit(train))
        {
            var metrics = trainer.ValidationMetrics!;
            Assert.Equal(5, metrics.Count);
            Assert.Equal(groups, metrics.PerGroup.Keys.Order(StringComparer.Ordinal));
            Assert.Contains(messages, m => m.StartsWith("validation: BLEU-4", StringComparison.Ordinal));
        }

        // Without the column (or switched off), overall only.
        trainer.TrainerOptions.ValidationGroupColumnName = null;
        using (trainer.Fit(train)) Assert.Empty(trainer.ValidationMetrics!.PerGroup);
    }

    [Fact]
    public void EmptyGroupsCountOverallOnly()
    {
        var ml = new MLContext();
        var rows = new[]
        {
            new { References = new[] { "a red car" }, PredictedCaption = "a red car", Group = "" },
            new { References = new[] { "a man" }, PredictedCaption = "a woman", Group = "add" },
        };
        var metrics = ml.DiffCaptioning().Evaluate(ml.Data.LoadFromEnumerable(rows), groupColumnName: "Group");
        Assert.Equal(2, metrics.Count);
        Assert.Equal(["add"], metrics.PerGroup.Keys);
        Assert.Null(metrics.Interval);

        // With resamples, an interval for every score, overall and per group.
        var withIntervals = ml.DiffCaptioning().Evaluate(ml.Data.LoadFromEnumerable(rows), groupColumnName: "Group", bootstrapResamples: 100);
        Assert.Equal(metrics.Cider, withIntervals.Cider);
        Assert.InRange(metrics.Cider, withIntervals.Interval!.Low.Cider, withIntervals.Interval.High.Cider);
        Assert.Equal(100, withIntervals.PerGroup["add"].Interval!.Resamples);
        Assert.Contains("95% bootstrap intervals (100 resamples):", withIntervals.ToTable());
    }
}
