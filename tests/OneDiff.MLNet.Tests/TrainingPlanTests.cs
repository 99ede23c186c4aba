using System.Text.Json;
using Microsoft.ML;
using OneDiff.Data.Formats;
using OneDiff.Data.Synthetic;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Training;
using OneDiff.Tests.Common;
using Xunit;

namespace OneDiff.MLNet.Tests;

/// <summary>The trainer's options resolved once, and what Fit does with the plan before it builds anything.</summary>
public class TrainingPlanTests
{
    [Fact]
    public void ThePlanHoldsTheModelBothStagesLoraCaptioningAndColumnsFromTheOptions()
    {
        var o = new DiffCaptionTrainer.Options
        {
            Preset = "Tiny", Fusion = PairFusion.Sequence, NumDeltaTokens = 4, BatchSize = 3, StageOneBatchSize = 6, GradientAccumulation = 2,
            LoraRank = 8, StageTwoLearningRate = 1e-3, MaxNewTokens = 7, NumBeams = 2, Image1ColumnName = "Before", PredictedCaptionColumnName = "Said",
        };
        var plan = TrainingPlan.Resolve(o, new TrainingInputs(Captions: true, Conversations: false, Validation: false));
        Assert.Equal((PairFusion.Sequence, 4, 8), (plan.Model.Fusion, plan.Model.NumDeltaTokens, plan.Lora!.Rank));
        Assert.Equal((6, 2), (plan.StageOne!.BatchSize, plan.StageOne.GradientAccumulation));
        Assert.Equal(new Dictionary<string, double> { ["projectors"] = 1e-3, ["delta_module"] = 1e-3, ["lora"] = 2e-4 }, plan.StageTwo.LearningRates);
        Assert.Equal(("Before", "Said", 7, 2, 16), (plan.Captioning.Columns.Image1ColumnName, plan.Captioning.PredictedCaptionColumnName,
            plan.Captioning.MaxNewTokens, plan.Captioning.NumBeams, plan.Captioning.BatchSize));
        Assert.Null(plan.Captioning.Columns.ReferencesColumnName);
        Assert.Equal("References", plan.Columns.Pairs.ReferencesColumnName);
        // No captions given: stage I does not run, unless asked for, which is then an error.
        Assert.Null(TrainingPlan.Resolve(o).StageOne);
        o.RunStageOne = true;
        Assert.Contains("RunStageOne is true, but stage I", Assert.Throws<ArgumentException>(() => TrainingPlan.Resolve(o)).Message);
    }

    [Fact]
    public void FitRefusesAPlanWhoseFolderCannotBeReadBeforeBuildingAnything()
    {
        var ml = new MLContext(seed: 1);
        string dir = TestPaths.NewTempDir("plan-folders");
        ProceduralPairGenerator.Write(dir, 4, seed: 2, imageSize: 32, testEvery: 0);
        var data = ml.DiffCaptioning().LoadImagePairs(DiffCapJsonl.Read(Path.Combine(dir, "train.jsonl")));
        string llm = Path.Combine(dir, "no-such-llm");
        var trainer = ml.DiffCaptioning().Trainers.OneDiff(new DiffCaptionTrainer.Options { Preset = "Tiny", LlmFolder = llm, Device = "cpu", StageTwoSteps = 1 });
        var e = Assert.Throws<DirectoryNotFoundException>(() => trainer.Fit(data));
        Assert.Equal($"LlmFolder: folder not found: {llm}", e.Message);

    }

    [Fact]
    public void TheFlatOverloadWithA7BPresetAndNoFoldersIsRefusedBeforeAnythingIsBuilt()
    {
        // The first-hour trap: a 7B model of random weights built in fp32 on the CPU (28 GB), which
        // the kernel ends minutes later with no message. It is refused at once, with the reason.
        var ml = new MLContext(seed: 1);
        string dir = TestPaths.NewTempDir("flat-7b");
        ProceduralPairGenerator.Write(dir, 4, seed: 2, imageSize: 32, testEvery: 0);
        var data = ml.DiffCaptioning().LoadImagePairs(DiffCapJsonl.Read(Path.Combine(dir, "train.jsonl")));
        long before = Environment.WorkingSet;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<DirectoryNotFoundException>(() => ml.DiffCaptioning().Trainers.OneDiff(preset: "Vicuna7B", device: "cpu").Fit(data));
        Assert.Equal("LlmFolder: preset Vicuna7B takes its weights and tokenizer from an LLM folder, and none is given", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20) && Environment.WorkingSet - before < (1L << 30),
            $"{clock.Elapsed.TotalSeconds:F0} s, {(Environment.WorkingSet - before) >> 20} MiB more: something was built");
    }

    [Fact]
    public void TheContextsSeedSeedsTrainingUnlessTheOptionsSetOne()
    {
        string dir = TestPaths.NewTempDir("seeds");
        ProceduralPairGenerator.Write(dir, 6, seed: 2, imageSize: 32, testEvery: 0);
        IReadOnlyList<double> Losses(int contextSeed, int? optionSeed = null)
        {
            var ml = new MLContext(seed: contextSeed);
            var data = ml.DiffCaptioning().LoadImagePairs(DiffCapJsonl.Read(Path.Combine(dir, "train.jsonl")));
            var trainer = ml.DiffCaptioning().Trainers.OneDiff(new DiffCaptionTrainer.Options { Preset = "Tiny", StageTwoSteps = 3, BatchSize = 4, Device = "cpu", Seed = optionSeed });
            using var model = trainer.Fit(data);
            return trainer.LossHistory;
        }
        // The context's seed is the one taken: seed 1 from the context trains as seed 1 from the
        // options does under another context's; another context seed trains otherwise.
        var contextOne = Losses(1);
        Assert.Equal(contextOne, Losses(9, optionSeed: 1));
        Assert.NotEqual(contextOne, Losses(2));
        Assert.Equal(Losses(1, optionSeed: 7), Losses(2, optionSeed: 7));
        Assert.Equal(2, TrainingPlan.Resolve(new DiffCaptionTrainer.Options { Preset = "Tiny" }, contextSeed: 2).Seed);
        Assert.Equal(1, TrainingPlan.Resolve(new DiffCaptionTrainer.Options { Preset = "Tiny" }).Seed);
    }

    [Fact]
    public void TinyTrainsWithItsOwnSettingsAndTheSevenBPresetsWithThePapers()
    {
        var tiny = TrainingPlan.Resolve(new DiffCaptionTrainer.Options { Preset = "Tiny" }, new TrainingInputs(Captions: true, Conversations: false, Validation: false));
        Assert.Equal((20, 2e-3, 1e-3), (tiny.StageOne!.MaxSteps, tiny.StageOne.LearningRates["projectors"], tiny.StageOne.LearningRates["delta_module"]));
        Assert.Equal((10, 3e-3, 5e-4, 0.05), (tiny.StageTwo.Epochs, tiny.StageTwo.LearningRates["projectors"], tiny.StageTwo.LearningRates["language_model"], tiny.StageTwo.WarmupFraction));
        var paper = TrainingPlan.Resolve(new DiffCaptionTrainer.Options { Preset = "Vicuna7B" }, new TrainingInputs(Captions: true, Conversations: false, Validation: false));
        Assert.Equal((null, 1, 1e-3, 3e-4), (paper.StageOne!.MaxSteps, paper.StageOne.Epochs, paper.StageOne.LearningRates["projectors"], paper.StageOne.LearningRates["delta_module"]));
        Assert.Equal((1, 2e-5, 2e-5, 0.03), (paper.StageTwo.Epochs, paper.StageTwo.LearningRates["projectors"], paper.StageTwo.LearningRates["language_model"], paper.StageTwo.WarmupFraction));
        // What the options set wins; a stage II rate set alone is the LLM's too, and epochs set replace Tiny's steps.
        var set = TrainingPlan.Resolve(new DiffCaptionTrainer.Options { Preset = "Tiny", StageTwoLearningRate = 1e-4, StageOneEpochs = 2 },
            new TrainingInputs(Captions: true, Conversations: false, Validation: false));
        Assert.Equal((1e-4, 1e-4, null, 2), (set.StageTwo.LearningRates["projectors"], set.StageTwo.LearningRates["language_model"], set.StageOne!.MaxSteps, set.StageOne.Epochs));
    }

    [Fact]
    public void AStageThatRunsOutOfMemoryIsToldWhatTakesLessInTheTrainersOptionNames()
    {
        var oom = new System.Runtime.InteropServices.ExternalException("CUDA out of memory. Tried to allocate 2.00 GiB.\nframe #0: c10::Error::Error");
        var full = new StageSettings
        {
            Stage = TrainingStage.InstructionTuning, BatchSize = 8, GradientAccumulation = 8, MasterWeights = true,
            LearningRates = new Dictionary<string, double>(),
        };
        string advice = OutOfMemoryAdvice.For(TrainingOutOfMemoryException.For(full, null, oom));
        Assert.StartsWith("stage 2 ran out of memory at batch 8, checkpointing off, fp32 copies on (CUDA out of memory. Tried to allocate 2.00 GiB.). Settings that take less: ", advice);
        Assert.Contains("GradientCheckpointing: true", advice);
        Assert.Contains("a smaller BatchSize with a larger GradientAccumulation (the same batch of 64 per update)", advice);
        Assert.Contains("LoraRank 128", advice);
        Assert.Contains("MasterWeights: false", advice);
        var lean = full with { BatchSize = 1, GradientCheckpointing = true, MasterWeights = false, Lora = new LoraConfig { Rank = 8 } };
        Assert.EndsWith("a larger device is needed.", OutOfMemoryAdvice.For(TrainingOutOfMemoryException.For(lean, null, oom)));
    }

    [Fact]
    public void SettingsSavedBeforeColumnsWereOneRecordStillLoad()
    {
        // The shape models were saved with: the column names flat, and a computed Columns beside them.
        string old = """
            {"Image1ColumnName":"A","Image2ColumnName":"B","PromptColumnName":"Prompt","TaskColumnName":null,"PredictedCaptionColumnName":"Out",
             "Template":"plain","DefaultPrompt":"Describe the difference between the two images.","MaxNewTokens":9,"NumBeams":1,"BatchSize":16,
             "PadToSquare":false,"Device":"auto","Precision":"auto",
             "Columns":{"Image1ColumnName":"A","Image2ColumnName":"B","ReferencesColumnName":null,"PromptColumnName":"Prompt","TaskColumnName":null,"GroupColumnName":null,"IdColumnName":null}}
            """;
        var settings = JsonSerializer.Deserialize<CaptioningSettings>(old)!;
        Assert.Equal(new ImagePairColumns().ForCaptioning() with { Image1ColumnName = "A", Image2ColumnName = "B", TaskColumnName = null }, settings.Columns);
        Assert.Equal(("Out", 9), (settings.PredictedCaptionColumnName, settings.MaxNewTokens));
    }
}
