using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Training;

namespace OneDiff.MLNet;

/// <summary>What to change when a training stage runs out of memory, in the trainer's option
/// names (they are also the config file's keys): the layer below states only the facts.</summary>
static class OutOfMemoryAdvice
{
    /// <summary>Before the model is built on the CPU: whether the plan's weights and training state
    /// fit the machine's memory at all. Linux does not refuse such an allocation; its kernel ends
    /// the process minutes later, with no exception and no message. (On CUDA the allocator refuses
    /// at once, and the stage's error says what to change.)</summary>
    public static void CheckFitsHost(TrainingPlan plan, TorchSharp.torch.ScalarType dtype)
    {
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        foreach (var stage in new[] { plan.StageOne, plan.StageTwo })
        {
            if (stage is null) continue;
            var memory = plan.Memory(stage.Stage, dtype);
            if (memory.TotalBytes <= available) continue;
            string reason = $"the weights and training state take {memory.TotalBytes / (double)(1L << 30):F1} GiB in {dtype.ToString().ToLowerInvariant()}, " +
                $"activations apart, and this machine has {available / (double)(1L << 30):F1} GiB";
            string facts = $"stage {(int)stage.Stage} of preset {plan.Preset} ({plan.Model.Llm.NumHiddenLayers} LLM layers of {plan.Model.Llm.HiddenSize}) would not fit in memory on the CPU: {reason}. " +
                "Nothing was built. What would fit: the Tiny preset on a CPU, a GPU (bf16 on CUDA), or a smaller LLM folder.";
            throw new TrainingOutOfMemoryException($"{facts} {Ways(stage, activations: false, copies: dtype is TorchSharp.torch.ScalarType.BFloat16 or TorchSharp.torch.ScalarType.Float16)}", stage, memory, reason);
        }
    }

    /// <summary>The exception's facts, then the settings of its stage that take less.</summary>
    public static string For(TrainingOutOfMemoryException e) => e.Message + " " + Ways(e.Settings, activations: true, copies: true);

    /// <summary>The settings that take less: with <paramref name="activations"/>, also those that
    /// shrink the activations (they do not help weights and training state that alone do not fit);
    /// with <paramref name="copies"/>, the fp32 copies of 16-bit weights.</summary>
    static string Ways(StageSettings s, bool activations, bool copies)
    {
        var ways = new List<string>();
        if (activations && !s.GradientCheckpointing) ways.Add($"{nameof(DiffCaptionTrainer.Options.GradientCheckpointing)}: true (activations of one layer at a time, about 30 % more time)");
        if (activations && s.BatchSize > 1)
            ways.Add($"a smaller {nameof(DiffCaptionTrainer.Options.BatchSize)} with a larger {nameof(DiffCaptionTrainer.Options.GradientAccumulation)} " +
                $"(the same batch of {s.BatchSize * s.GradientAccumulation} per update)");
        if (s.Stage == TrainingStage.InstructionTuning && s.Lora is null)
            ways.Add($"{nameof(DiffCaptionTrainer.Options.LoraRank)} 128 (stage II as LoRA: the LLM's gradients and optimizer state go)");
        if (copies && s.MasterWeights) ways.Add($"{nameof(DiffCaptionTrainer.Options.MasterWeights)}: false (no fp32 copies; in bf16 most small updates are then lost)");
        return (ways.Count == 0
            ? "Each setting that saves memory is in use already: a larger device is needed."
            : "Settings that take less: " + string.Join("; ", ways) + ".");
    }
}
