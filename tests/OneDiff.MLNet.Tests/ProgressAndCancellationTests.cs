using System.Collections.Concurrent;
using Microsoft.ML;
using OneDiff.Data.Synthetic;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Training;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.MLNet.Tests;

/// <summary>ML.NET's conventions in Fit: progress through a progress channel, and cancellation of the
/// context's execution stopping at the next step with a checkpoint that resumes.</summary>
public class ProgressAndCancellationTests
{
    [Fact]
    public void FitReportsThroughTheProgressChannelAndStopsWhenCancelledWithACheckpointThatResumes()
    {
        string dir = TestPaths.NewTempDir("cancel-fit");
        ProceduralPairGenerator.Write(Path.Combine(dir, "data"), 16, seed: 9, imageSize: 32, testEvery: 0);
        string checkpoints = Path.Combine(dir, "checkpoints");
        DiffCaptionTrainer.Options Options(MLContext ml) => new()
        {
            Preset = "Tiny", StageTwoSteps = 60, BatchSize = 4, Device = "cpu", CheckpointFolder = checkpoints, CacheVisionFeatures = true,
        };
        var ml = new MLContext(seed: 1);
        var catalog = ml.DiffCaptioning();
        var train = catalog.LoadDataset("diffcap", Path.Combine(dir, "data"), "train");
        var trainer = catalog.Trainers.OneDiff(Options(ml));

        // Another thread reads the channel while Fit runs.
        var seen = new ConcurrentQueue<ProgressReport>();
        using var done = new CancellationTokenSource();
        var reader = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                foreach (var report in catalog.Progress()) seen.Enqueue(report);
                await Task.Delay(2);
            }
        });
        // The cancellation comes when stage II logs its step 10 (on the training thread, so the
        // step is known exactly, however busy the machine).
        const long cancelledAt = 10;
        ml.Log += (_, e) => { if (e.RawMessage.StartsWith($"stage 2 step {cancelledAt}/", StringComparison.Ordinal)) catalog.CancelExecution(); };
        Assert.ThrowsAny<OperationCanceledException>(() => trainer.Fit(train));
        done.Cancel();
        reader.Wait(TestContext.Current.CancellationToken);

        var training = seen.Where(r => r.Name == "OneDiff training" && r.Units.ContainsKey("step")).ToList();
        Assert.NotEmpty(training);
        Assert.All(training, r =>
        {
            Assert.Equal((2.0, (double?)2), r.Units["stage"]);
            Assert.Equal(60, r.Units["step"].Limit);
            Assert.True(r.Metrics["loss"] > 0);
        });
        Assert.True(training.Select(r => r.Units["step"].Value).Distinct().Count() >= 2, "the reader saw one step only");

        // Stopped within two steps of the cancellation, with a checkpoint there.
        var saved = CheckpointStore.List(checkpoints).Where(c => c.Stage == TrainingStage.InstructionTuning && c.Complete).ToList();
        var last = Assert.Single(saved);
        Assert.InRange(last.Step, cancelledAt, cancelledAt + 2);

        // A new context resumes from it and finishes.
        var ml2 = new MLContext(seed: 1);
        var log = new ConcurrentQueue<string>();
        ml2.Log += (_, e) => log.Enqueue(e.RawMessage);
        var options = Options(ml2);
        options.Resume = true;
        var resumed = ml2.DiffCaptioning().Trainers.OneDiff(options);
        using var model = resumed.Fit(ml2.DiffCaptioning().LoadDataset("diffcap", Path.Combine(dir, "data"), "train"));
        Assert.Contains(log, m => m.Contains($"resumed stage 2 from") && m.Contains($"(step {last.Step})"));
        Assert.Equal(60, resumed.TrainingRecords.Last(r => r.Kind == "step").Step);
        Assert.True(resumed.TrainingRecords.First(r => r.Kind == "step").Step > last.Step);

        // Transform reports the pairs it has captioned through the same channel kind.
        var catalog2 = ml2.DiffCaptioning();
        var data = catalog2.LoadDataset("diffcap", Path.Combine(dir, "data"), "train");
        var captioning = new ConcurrentQueue<(double Value, double? Limit)>();
        using var stopReading = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!stopReading.IsCancellationRequested)
            {
                foreach (var r in catalog2.Progress().Where(r => r.Name == "OneDiff captioning" && r.Units.ContainsKey("pairs"))) captioning.Enqueue(r.Units["pairs"]);
                await Task.Delay(1);
            }
        });
        var captions = ml2.Data.CreateEnumerable<Captioned>(model.Transform(data), reuseRowObject: false).ToList();
        stopReading.Cancel();
        watcher.Wait(TestContext.Current.CancellationToken);
        Assert.Equal(data.GetRowCount(), captions.Count);
        Assert.NotEmpty(captioning);
        Assert.All(captioning, p => { Assert.Equal(captions.Count, p.Limit); Assert.InRange(p.Value, 0, captions.Count); });
        var values = captioning.Select(p => p.Value).ToList();
        Assert.Equal(values.Order(), values);
    }

    sealed class Captioned
    {
        public string PredictedCaption { get; set; } = "";
    }
}
