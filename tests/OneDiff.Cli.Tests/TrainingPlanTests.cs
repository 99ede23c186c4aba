using System.Globalization;
using System.Text.RegularExpressions;
using OneDiff.Cli.Commands;
using OneDiff.MLNet;
using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Training;
using OneDiff.Tests.Common;
using TorchSharp;
using Xunit;

namespace OneDiff.Cli.Tests;

/// <summary>The training plan is resolved once: what <c>train --check</c> prints is the model Fit
/// builds, and every open choice of the model set in a config file reaches the built model.</summary>
public class TrainingPlanTests
{
    /// <summary>A Hugging Face LLaMA folder of other sizes than the Tiny preset's LLM (3 layers of
    /// 96, so the counts tell the folder from the preset), with the small SentencePiece fixture.</summary>
    static string LlmFolder(string dir)
    {
        string llm = Path.Combine(dir, "llm");
        Directory.CreateDirectory(llm);
        var c = OneDiffConfig.Tiny.Llm with { HiddenSize = 96, IntermediateSize = 256, NumHiddenLayers = 3, NumAttentionHeads = 4, NumKeyValueHeads = 4, HeadDim = 24 };
        File.WriteAllText(Path.Combine(llm, "config.json"), c.ToHfJson());
        torch.manual_seed(3);
        using (var model = new LlamaForCausalLM(c)) SafetensorsWriter.Save(Path.Combine(llm, "model.safetensors"), model.state_dict());
        File.Copy(Path.Combine(TestPaths.HfFixtures, "sentencepiece", "tokenizer.model"), Path.Combine(llm, "tokenizer.model"));
        return llm;
    }

    static string Config(string dir, string options)
    {
        CliRunner.Run(SynthCommand.Create(), "--out", Path.Combine(dir, "data"), "--pairs", "6", "--size", "64", "--seed", "2", "--test-every", "0");
        string path = Path.Combine(dir, "config.yaml");
        File.WriteAllText(path, $"""
            train:
              - format: synthetic
                root: data
            options:
              Preset: Tiny
              StageTwoSteps: 1
              BatchSize: 2
              Device: cpu
            {options}
            output: out/model.zip
            """);
        return path;
    }

    static long Count(string text, string pattern) => long.Parse(Regex.Match(text, pattern).Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);

    [Fact]
    public void TrainCheckPrintsTheModelThatFitBuildsWithAnLlmFolderFusionAndReadout()
    {
        string dir = TestPaths.NewTempDir("plan");
        string llm = LlmFolder(dir);
        string config = Config(dir, """
              LlmFolder: llm
              Fusion: Sequence
              Readout: LevelPerBlock
              DeltaFeatureLayers: [3]
            """);

        var (checkCode, check, checkErr) = CliRunner.Run(TrainCommand.Create(), "--config", config, "--check");
        Assert.True(checkCode == 0, check + checkErr);
        var (code, train, err) = CliRunner.Run(TrainCommand.Create(), "--config", config);
        Assert.True(code == 0, train + err);

        // The parameters Fit built, and those --check counted on the meta device, are the same number.
        long built = Count(train, @"OneDiff Tiny on cpu: ([\d,]+) parameters");
        long planned = Count(check, @"; ([\d,]+) parameters\n");
        Assert.Equal(built, planned);
        // ... and not the bare preset's, which is what --check used to count.
        Assert.NotEqual(new OneDiffModel(OneDiffConfig.Tiny).ParameterCount(), planned);
        Assert.Contains($"LLM llama 3 layers of 96 ({llm})", check);
        Assert.Contains("readout LevelPerBlock", check);
        Assert.Contains("fusion Sequence", check);

        // The saved model's config is the plan's, choice by choice and size by size.
        var c = TrainConfig.Read(config);
        var plan = c.Plan(c.TrainerOptions());
        var ml = new Microsoft.ML.MLContext();
        using var saved = ml.DiffCaptioning().LoadTransformer(Path.Combine(dir, "out", "model.zip"));
        Assert.Equal(plan.Model.ToJson(), saved.Config.ToJson());
        Assert.Equal((PairFusion.Sequence, DeltaReadout.LevelPerBlock, 96), (saved.Config.Fusion, saved.Config.Readout, saved.Config.Llm.HiddenSize));

        // The memory --check prints is that of a real model of that config, in each stage's state.
        using var real = new OneDiffModel(saved.Config);
        real.SetStage(TrainingStage.InstructionTuning);
        var memory = TrainingMemory.Of(real, torch.ScalarType.BFloat16, masterWeights: true);
        static string G(long bytes) => (bytes / (double)(1L << 20)).ToString("F1", CultureInfo.InvariantCulture) + " MiB";
        Assert.Contains($"stage II {G(memory.TotalBytes)} (weights {G(memory.WeightBytes)}, gradients {G(memory.GradientBytes)}, optimizer {G(memory.OptimizerBytes)})", check);
    }

    /// <summary>Builds the model of the config's plan on the CPU, as Fit does.</summary>
    static OneDiffModel Built(string options)
    {
        string dir = TestPaths.NewTempDir("choice");
        var c = TrainConfig.Read(Config(dir, options));
        var plan = c.Plan(c.TrainerOptions());
        return OneDiffPretrained.Build(plan.Model, plan.Folders, torch.CPU, torch.ScalarType.Float32);
    }

    [Fact]
    public void EveryOpenChoiceOfTheModelIsATrainerOptionAndAConfigKey()
    {
        var settable = TrainConfig.SettableOptions.Select(p => p.Name).ToHashSet();
        Assert.Equal(7, OneDiffConfig.OpenChoices.Count);
        Assert.All(OneDiffConfig.OpenChoices, choice => Assert.Contains(choice, settable));
    }

    [Fact]
    public void FusionFromTheConfigReachesTheModel()
    {
        // The [A][B] sequence projects each image's 64-wide patches; channel concatenation both at once.
        using var sequence = Built("  Fusion: Sequence");
        using var channels = Built("  Fusion: ChannelConcat");
        Assert.Equal(64, ((TorchSharp.Modules.Linear)sequence.mm_projector[0]).weight!.shape[1]);
        Assert.Equal(128, ((TorchSharp.Modules.Linear)channels.mm_projector[0]).weight!.shape[1]);
    }

    [Fact]
    public void ReadoutFromTheConfigReachesTheModel()
    {
        using var model = Built("  Readout: LevelPerBlock\n  DeltaFeatureLayers: [2]");
        Assert.Equal(DeltaReadout.LevelPerBlock, model.delta_module.Readout);
        using var preset = Built("");
        Assert.Equal(DeltaReadout.AllLevels, preset.delta_module.Readout);
    }

    [Fact]
    public void NumDeltaTokensFromTheConfigReachesTheModel()
    {
        using var model = Built("  NumDeltaTokens: 5");
        Assert.Equal(new long[] { 1, 5, 64 }, model.delta_module.delta_tokens.shape);
        using var visual = model.EncodePair(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64));
        Assert.Equal(16 + 5, visual.shape[1]); // 16 channel-fused patches, then the delta tokens
    }

    [Fact]
    public void DeltaFeatureLayersFromTheConfigReachTheModel()
    {
        using var model = Built("  DeltaFeatureLayers: [1, 3]");
        Assert.Equal(2, model.delta_module.level_embedding.shape[0]);
        using var pixels = torch.rand(1, 3, 64, 64);
        using var features = model.EncodeVision(pixels);
        using var all = model.vision_tower.forward(pixels, new HashSet<int> { 0, 1, 2, 3 });
        Assert.Equal(2, features.Levels.Length);
        Assert.True(Same(features.Levels[0], all.HiddenStates[1]) && Same(features.Levels[1], all.HiddenStates[3]));
    }

    static bool Same(torch.Tensor a, torch.Tensor b) => a.eq(b).all().item<bool>();

    [Fact]
    public void PatchFeatureLayerFromTheConfigReachesTheModel()
    {
        using var model = Built("  PatchFeatureLayer: -1");
        using var pixels = torch.rand(1, 3, 64, 64);
        using var features = model.EncodeVision(pixels);
        using var all = model.vision_tower.forward(pixels, new HashSet<int> { 0, 1, 2, 3 });
        Assert.True(Same(features.Patches, all.HiddenStates[3].narrow(1, 1, 16)), "the patches are not the last layer's");
        Assert.False(Same(features.Patches, all.HiddenStates[2].narrow(1, 1, 16)));
    }

    [Fact]
    public void TemplatesFromTheConfigReachTheModelAndItsCaptioning()
    {
        string dir = TestPaths.NewTempDir("templates");
        var c = TrainConfig.Read(Config(dir, "  StageOneTemplate: vicuna_v1\n  StageTwoTemplate: chatml"));
        var plan = c.Plan(c.TrainerOptions());
        Assert.Equal(("vicuna_v1", "chatml", "chatml"), (plan.Model.StageOneTemplate, plan.Model.StageTwoTemplate, plan.Captioning.Template));
        var (code, output, err) = CliRunner.Run(TrainCommand.Create(), "--config", Path.Combine(dir, "config.yaml"));
        Assert.True(code == 0, output + err);
        using var saved = new Microsoft.ML.MLContext().DiffCaptioning().LoadTransformer(Path.Combine(dir, "out", "model.zip"));
        Assert.Equal(("vicuna_v1", "chatml", "chatml"), (saved.Config.StageOneTemplate, saved.Config.StageTwoTemplate, saved.Settings.Template));
    }

    [Theory]
    [InlineData("  NumDeltaTokens: 0", "NumDeltaTokens must be at least 1")]
    [InlineData("  DeltaFeatureLayers: [1, 9]", "DeltaFeatureLayers: layer 9 is outside CLIP's hidden states 0..3")]
    [InlineData("  DeltaFeatureLayers: []", "DeltaFeatureLayers must name at least one CLIP layer")]
    [InlineData("  PatchFeatureLayer: 7", "PatchFeatureLayer 7 is outside CLIP's layers")]
    [InlineData("  Readout: LevelPerBlock", "Readout LevelPerBlock needs one cross-attention block per level of DeltaFeatureLayers (1 block(s), 3 level(s))")]
    [InlineData("  StageTwoTemplate: alpaca", "StageTwoTemplate: unknown conversation template 'alpaca'")]
    [InlineData("  Readout: Sideways", "Readout")]
    public void AChoiceTheModelCannotTakeIsAnErrorNamingIt(string option, string expected)
    {
        string dir = TestPaths.NewTempDir("bad-choice");
        string path = Config(dir, option);
        var e = Assert.Throws<InvalidDataException>(() => { var c = TrainConfig.Read(path); c.Plan(c.TrainerOptions()); });
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        // The same words from the trainer's options in code.
        if (!option.Contains("Sideways"))
        {
            var options = TrainConfig.Read(path).TrainerOptions();
            Assert.Contains(expected, Assert.Throws<ArgumentException>(() => TrainingPlan.Resolve(options)).Message);
        }
    }
}
