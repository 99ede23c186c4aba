using Microsoft.ML;
using Microsoft.ML.Runtime;
using OneDiff.Modeling.Runtime;

namespace OneDiff.MLNet;

/// <summary>
/// Entry point of the OneDiff components on an <see cref="MLContext"/>:
/// <c>mlContext.DiffCaptioning()</c>.
/// </summary>
public sealed partial class DiffCaptioningCatalog
{
    internal MLContext Context { get; }
    internal IHost Host { get; }
    /// <summary>The seed the MLContext was made with (<c>new MLContext(seed: n)</c>), or null.</summary>
    internal int? Seed => ((IHostEnvironmentInternal)Context).Seed;

    internal DiffCaptioningCatalog(MLContext context)
    {
        Context = context;
        Host = ((IHostEnvironment)context).Register("OneDiff");
    }

    /// <summary>
    /// The device a OneDiff component will run on: <c>auto</c> (CUDA when available), <c>cpu</c>,
    /// <c>cuda</c> or <c>cuda:N</c>, honouring <see cref="MLContext.GpuDeviceId"/> (the CUDA index
    /// for <c>auto</c> and <c>cuda</c>) and <see cref="MLContext.FallbackToCpu"/> (CPU instead of an
    /// error when CUDA is asked for and absent). The choice is logged to <c>MLContext.Log</c>.
    /// </summary>
    public ResolvedDevice ResolveDevice(string? device = "auto")
    {
        var resolved = DeviceSelector.Resolve(device, Context.GpuDeviceId, Context.FallbackToCpu);
        using var ch = Host.Start("Device");
        ch.Info(MessageSensitivity.None, $"OneDiff device: {resolved.Name} ({resolved.Reason})");
        return resolved;
    }
}

public static class MLContextExtensions
{
    /// <summary>The OneDiff image-difference-captioning catalog.</summary>
    public static DiffCaptioningCatalog DiffCaptioning(this MLContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new DiffCaptioningCatalog(context);
    }
}
