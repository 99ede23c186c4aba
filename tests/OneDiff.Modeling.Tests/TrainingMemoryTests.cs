using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

/// <summary>The memory of weights and training state, counted on a model built on the meta device
/// (nothing allocated), against a model built for real and against the 7B counts the GPU
/// benchmark printed (docs/benchmarks.md).</summary>
public class TrainingMemoryTests
{
    [Fact]
    public void TheMetaCountEqualsTheBuiltModelsInEachStage()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(1);
        using var model = new OneDiffModel(OneDiffConfig.Tiny);
        foreach (var stage in new[] { TrainingStage.CoupledSampleTraining, TrainingStage.InstructionTuning })
        {
            model.SetStage(stage);
            var real = TrainingMemory.Of(model, ScalarType.Float32, masterWeights: true);
            var counted = TrainingMemory.Of(OneDiffConfig.Tiny, stage, null, ScalarType.Float32, masterWeights: true);
            Assert.Equal(real, counted);
            Assert.Equal(model.parameters().Distinct().Sum(p => p.numel()), counted.Parameters);
            Assert.Equal(model.TrainableParameters().Sum(t => t.Parameter.numel()), counted.TrainedParameters);
            // fp32 weights have no fp32 copies: two fp32 moments.
            Assert.Equal(counted.TrainedParameters * 8, counted.OptimizerBytes);
        }
    }

    [Fact]
    public void Vicuna7BCountsAreTheBenchmarks()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        var config = OneDiffConfig.Vicuna7B;
        var whole = TrainingMemory.Of(config, TrainingStage.InstructionTuning, null, ScalarType.BFloat16, masterWeights: true);
        Assert.Equal(6_830_156_288, whole.TrainedParameters); // the benchmark's trainable_params, stage II
        Assert.Equal(whole.Parameters * 2, whole.WeightBytes);
        Assert.Equal(whole.TrainedParameters * 2, whole.GradientBytes);
        Assert.Equal(whole.TrainedParameters * 12, whole.OptimizerBytes); // fp32 copy and two fp32 moments
        Assert.Equal(102.3, whole.TotalBytes / (double)(1L << 30), 1); // of the 111.5 GiB measured with checkpointing
        var plain = TrainingMemory.Of(config, TrainingStage.InstructionTuning, null, ScalarType.BFloat16, masterWeights: false);
        Assert.Equal(whole.TrainedParameters * 4, plain.OptimizerBytes);
        var lora = TrainingMemory.Of(config, TrainingStage.InstructionTuning, new LoraConfig { Rank = 128, Alpha = 256 }, ScalarType.BFloat16, masterWeights: false);
        Assert.Equal(411_556_352, lora.TrainedParameters); // --lora 128
        Assert.Equal(whole.Parameters + 319_815_680, lora.Parameters); // PEFT's adapter count on top
        var stageOne = TrainingMemory.Of(config, TrainingStage.CoupledSampleTraining, null, ScalarType.BFloat16, masterWeights: true);
        Assert.Equal(whole.TrainedParameters - 6_738_415_616, stageOne.TrainedParameters); // the LLM's parameters (benchmark's llm_params) freeze
    }
}
