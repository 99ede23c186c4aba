namespace OneDiff.Modeling.Training;

/// <summary>
/// A training stage ran out of device memory. It carries what the stage ran with and what its
/// weights and training state take, so that the layer that knows the option names (the ML.NET
/// trainer) can say which settings take less; the message here states the facts only.
/// </summary>
public sealed class TrainingOutOfMemoryException : Exception
{
    public StageSettings Settings { get; }
    /// <summary>The stage's weights, gradients and optimizer state, activations apart; null where it could not be counted.</summary>
    public TrainingMemory? StateMemory { get; }
    /// <summary>The allocator's own first line ("CUDA out of memory. Tried to allocate ...").</summary>
    public string Reason { get; }

    public TrainingOutOfMemoryException(string message, StageSettings settings, TrainingMemory? stateMemory, string reason, Exception? inner = null) : base(message, inner)
    {
        Settings = settings;
        StateMemory = stateMemory;
        Reason = reason;
    }

    /// <summary>The facts of a stage that ran out of memory: its batch, checkpointing, fp32 copies, LoRA, and the allocator's words.</summary>
    public static TrainingOutOfMemoryException For(StageSettings s, TrainingMemory? memory, Exception inner)
    {
        string reason = Runtime.OutOfMemory.Reason(inner);
        string state = memory is null ? "" : $" Its weights and training state alone take {memory.TotalBytes / (double)(1L << 30):F1} GiB, activations apart.";
        string message = $"stage {(int)s.Stage} ran out of memory at batch {s.BatchSize}, checkpointing {(s.GradientCheckpointing ? "on" : "off")}, " +
            $"fp32 copies {(s.MasterWeights ? "on" : "off")}{(s.Lora is null ? "" : $", LoRA rank {s.Lora.Rank}")} ({reason}).{state}";
        return new TrainingOutOfMemoryException(message, s, memory, reason, inner);
    }
}
