using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Training;

/// <summary>
/// The device memory a stage's weights and training state take, counted from the model's
/// parameters: every weight, a gradient for each trained one, and AdamW's state (two moments in
/// the weights' type, or with fp32 copies an fp32 copy and two fp32 moments). Activations come on
/// top and depend on the batch and sequence (docs/benchmarks.md has measured steps).
/// </summary>
public sealed record TrainingMemory(long Parameters, long TrainedParameters, long WeightBytes, long GradientBytes, long OptimizerBytes)
{
    public long TotalBytes => WeightBytes + GradientBytes + OptimizerBytes;

    /// <summary>For <paramref name="model"/> as it is (its stage set, adapters attached or not)
    /// with weights of <paramref name="dtype"/>; with the optimizer state sharded over
    /// <paramref name="optimizerShards"/> ranks (ZeRO stage 1), the rank that holds the most.</summary>
    public static TrainingMemory Of(OneDiffModel model, ScalarType dtype, bool masterWeights, int optimizerShards = 1)
    {
        long all = model.ParameterCount();
        var names = model.named_parameters().GroupBy(p => p.parameter.Handle).ToDictionary(g => g.Key, g => g.First().name);
        var trainedSizes = model.TrainableParameters().Select(t => (names[t.Parameter.Handle], t.Parameter.numel())).ToList();
        long trained = trainedSizes.Sum(t => t.Item2);
        // Each parameter's state lives on its owner (DataParallel.Owners): the busiest rank's share.
        long sharded = trained;
        if (optimizerShards > 1)
        {
            var owners = DataParallel.Owners(trainedSizes, optimizerShards);
            sharded = trainedSizes.GroupBy(t => owners[t.Item1]).Max(g => g.Sum(t => t.Item2));
        }
        int size = dtype switch
        {
            ScalarType.BFloat16 or ScalarType.Float16 => 2,
            ScalarType.Float32 => 4,
            _ => throw new ArgumentException($"weights of {dtype} are not trained", nameof(dtype)),
        };
        // fp32 copies apply only to 16-bit weights (AdamW.MasterWeights).
        long optimizer = masterWeights && size == 2 ? sharded * 12 : sharded * 2L * size;
        return new TrainingMemory(all, trained, all * size, trained * size, optimizer);
    }

    /// <summary>For a preset, without allocating it: the model is built on libtorch's meta device
    /// (shapes only), set to <paramref name="stage"/>, with <paramref name="lora"/> attached in stage II.</summary>
    public static TrainingMemory Of(OneDiffConfig config, TrainingStage stage, LoraConfig? lora, ScalarType dtype, bool masterWeights, int optimizerShards = 1)
    {
        using var model = Runtime.BuildOn.Device(new Device(DeviceType.META), dtype, () => new OneDiffModel(config));
        if (lora is not null && stage == TrainingStage.InstructionTuning) model.language_model.model.AttachLora(lora);
        model.SetStage(stage);
        return Of(model, dtype, masterWeights, optimizerShards);
    }
}
