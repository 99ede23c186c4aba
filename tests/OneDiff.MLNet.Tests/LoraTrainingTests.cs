using Microsoft.ML;
using Microsoft.ML.Data;
using OneDiff.Data.Formats;
using OneDiff.Data.Synthetic;
using OneDiff.MLNet;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.MLNet.Tests;

/// <summary>Stage II with LoRA adapters of the LLM instead of the whole LLM.</summary>
public class LoraTrainingTests
{
    [Fact]
    public void FitTrainsAdaptersAndReturnsAModelThatSavesAndLoadsAsAnyOther()
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => { if (e.Source.StartsWith("OneDiff", StringComparison.Ordinal)) lock (messages) messages.Add(e.RawMessage); };
        string dir = TestPaths.NewTempDir("lora-fit");
        ProceduralPairGenerator.Write(dir, 8, seed: 21, imageSize: 64, testEvery: 0);
        var records = DiffCapJsonl.Read(Path.Combine(dir, "train.jsonl")).Select(r => r with { Captions = [r.Captions[0]] }).ToList();
        var catalog = ml.DiffCaptioning();
        var data = catalog.LoadImagePairs(records);
        var trainer = catalog.Trainers.OneDiff(new DiffCaptionTrainer.Options
        {
            Preset = "Tiny", StageTwoSteps = 40, BatchSize = 8, StageTwoLearningRate = 3e-3, WarmupFraction = 0.05,
            LoraRank = 8, LoraLearningRate = 1e-2, CacheVisionFeatures = true, MaxNewTokens = 12, Device = "cpu", Seed = 4,
            // Validation mid-run captions with the adapters attached, not yet merged.
            ValidationData = data, ValidateEvery = 20,
        });
        using var model = trainer.Fit(data);
        Assert.Contains(messages, m => m.StartsWith("stage II: LoRA rank 8 (alpha 16, dropout 0.05) on q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj", StringComparison.Ordinal));
        Assert.Equal(3, messages.Count(m => m.StartsWith("validation: BLEU-4", StringComparison.Ordinal)));
        // Tiny's LLM is random, and under LoRA its output head and final norm stay frozen, which
        // bounds its logits: the loss cannot go far below about 4.4 nats on its 1,000 pieces (a
        // pretrained LLM has no such bound). This checks that the adapters learn; the Modeling tests
        // check what they compute.
        Assert.True(trainer.LossHistory[^1] < trainer.LossHistory[0] - 1.2, $"loss {trainer.LossHistory[0]} -> {trainer.LossHistory[^1]}");

        // Merged when Fit ends: the saved model has the plain model's parameters and loads as one.
        string file = Path.Combine(dir, "lora.zip");
        ml.Model.Save(model, data.Schema, file);
        var loaded = ml.Model.Load(file, out _);
        var here = model.Transform(data).GetColumn<string>("PredictedCaption").ToList();
        var there = loaded.Transform(data).GetColumn<string>("PredictedCaption").ToList();
        Assert.Equal(here, there);
        (loaded as IDisposable)?.Dispose();
    }

    [Theory]
    [InlineData(-1, "q_proj", "LoraRank must not be negative")]
    [InlineData(8, "q_proj,lm_head", "unknown LoRA target 'lm_head'")]
    [InlineData(8, "", "at least one target")]
    public void BadLoraOptionsAreNamed(int rank, string targets, string expected)
    {
        var options = new DiffCaptionTrainer.Options { Preset = "Tiny", LoraRank = rank, LoraTargets = targets };
        var e = Assert.Throws<ArgumentException>(() => TrainingPlan.Resolve(options));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ANegativeKeepCheckpointsIsNamed()
    {
        var options = new DiffCaptionTrainer.Options { Preset = "Tiny", KeepCheckpoints = -1 };
        var e = Assert.Throws<ArgumentException>(() => TrainingPlan.Resolve(options));
        Assert.Contains("KeepCheckpoints must not be negative", e.Message);
        TrainingPlan.Resolve(new DiffCaptionTrainer.Options { Preset = "Tiny", KeepCheckpoints = 0 }); // 0 keeps every one
    }
}
