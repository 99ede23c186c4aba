using OneDiff.Modeling.Generation;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Prompting;
using OneDiff.Modeling.Tokenization;
using OneDiff.Modeling.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

/// <summary>
/// The model's passes while another thread keeps collecting garbage: a scalar that TorchSharp
/// makes for one call (an alpha of 1 behind <c>a + b</c>, a number passed for a Scalar) is freed
/// by its finalizer while the native call still reads it, which crashed a quickstart run in the
/// vision tower's residual sum. With <c>a + b</c> in the layers this failed within a few hundred
/// passes here; every scalar of the model code is now owned (Modules.Scalars).
/// </summary>
public class ScalarRaceTests
{
    [Fact]
    public void TrainingAndDecodingPassesSurviveConcurrentCollections()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(8);
        using var model = new OneDiffModel(OneDiffConfig.Tiny);
        var prompts = new PromptEncoder(TextTokenizer.Tiny(), ConversationTemplate.VicunaV1);
        var batch = new[] { prompts.Encode("What changed?", "the red car is gone"), prompts.Encode("What changed?", "a man appeared") };
        var decode = batch.Select(p => p with { Answer = [] }).ToList();
        var greedy = new GenerationOptions { MaxNewTokens = 4 };
        var beams = greedy with { NumBeams = 2 };
        var a = torch.rand(2, 3, 64, 64);
        var b = torch.rand(2, 3, 64, 64);
        model.SetStage(TrainingStage.InstructionTuning);
        int passes = 0;
        try
        {
            BackgroundCollector.During(() =>
            {
                for (; passes < 150; passes++)
                {
                    using var scope = torch.NewDisposeScope();
                    // Every third pass with libtorch's rms_norm (CUDA's form) through TorchScript.
                    Modules.KernelChoices.FusedRmsNorm = passes % 3 == 0 ? true : null;
                    model.train();
                    model.Loss(a, b, batch).backward();
                    model.eval();
                    model.Generate(a, b, decode, passes % 10 == 0 ? beams : greedy);
                }
            });
        }
        finally { Modules.KernelChoices.FusedRmsNorm = null; }
        Assert.Equal(150, passes);
    }

    [Fact]
    public void TheTrainingLoopSurvivesConcurrentCollections()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(9);
        using var model = new OneDiffModel(OneDiffConfig.Tiny);
        var rng = new Random(4);
        var prompts = new PromptEncoder(TextTokenizer.Tiny(), ConversationTemplate.Plain);
        float[] Image() => Enumerable.Range(0, 3 * 64 * 64).Select(_ => (float)rng.NextDouble()).ToArray();
        var data = Enumerable.Range(0, 16).Select(i => new TrainingExample(Image(), Image(), prompts.Encode("", i % 2 == 0 ? "a man appeared" : "the red car is gone"))).ToList();
        var settings = new StageSettings
        {
            Stage = TrainingStage.InstructionTuning, MaxSteps = 120, BatchSize = 4, Seed = 3, MaxGradNorm = 1.0,
            LearningRates = new Dictionary<string, double> { ["projectors"] = 1e-3, ["delta_module"] = 1e-3, ["language_model"] = 1e-3 },
        };
        BackgroundCollector.During(() => new TrainingLoop(model, torch.CPU).Run(data, settings, cancel: TestContext.Current.CancellationToken));
        Assert.All(model.parameters(), p => Assert.False(p.detach().isnan().any().item<bool>()));
    }
}
