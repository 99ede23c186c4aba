using TorchSharp;

namespace OneDiff.Modeling.Runtime;

/// <summary>The device a run will use, and why.</summary>
public sealed record ResolvedDevice(DeviceType Type, int Index, string Reason)
{
    public string Name => Type == DeviceType.CUDA ? $"cuda:{Index}" : "cpu";
    public bool IsCuda => Type == DeviceType.CUDA;
    public torch.Device ToTorch() => IsCuda ? torch.device(DeviceType.CUDA, Index) : torch.CPU;

    /// <summary>The compute dtype for this device: bf16 on CUDA (norms, softmax and the loss still
    /// run in fp32), fp32 on the CPU.</summary>
    public torch.ScalarType DefaultDtype => IsCuda ? torch.ScalarType.BFloat16 : torch.ScalarType.Float32;

    /// <summary>The weights' dtype for a precision setting: <c>auto</c> (<see cref="DefaultDtype"/>),
    /// <c>float32</c>, <c>bfloat16</c> (half the memory: a 7B model in 14 GB instead of 28, also on
    /// the CPU), or <c>float16</c> (CUDA only: libtorch's CPU kernels lack it).</summary>
    public torch.ScalarType Dtype(string? precision) => (precision ?? "auto").Trim().ToLowerInvariant() switch
    {
        "" or "auto" => DefaultDtype,
        "float32" or "fp32" => torch.ScalarType.Float32,
        "bfloat16" or "bf16" => torch.ScalarType.BFloat16,
        "float16" or "fp16" when IsCuda => torch.ScalarType.Float16,
        "float16" or "fp16" => throw new ArgumentException($"precision '{precision}' runs on CUDA only; on the CPU use bfloat16 or float32"),
        _ => throw new ArgumentException($"unknown precision '{precision}' (auto, float32, bfloat16, float16)"),
    };

    public override string ToString() => Name;
}

/// <summary>
/// The one place that turns a device setting into a device: <c>cpu</c>, <c>cuda</c>,
/// <c>cuda:N</c> or <c>auto</c> (CUDA when available). <paramref name="gpuDeviceId"/> and
/// <paramref name="fallbackToCpu"/> carry ML.NET's <c>MLContext.GpuDeviceId</c> and
/// <c>MLContext.FallbackToCpu</c>.
/// </summary>
public static class DeviceSelector
{
    public const string GpuDocs = "docs/gpu.md";

    /// <summary>Resolves against the CUDA devices TorchSharp sees in this process.</summary>
    public static ResolvedDevice Resolve(string? spec, int? gpuDeviceId = null, bool fallbackToCpu = false)
    {
        TorchNativeLoader.EnsureLoaded();
        return Resolve(spec, gpuDeviceId, fallbackToCpu, CudaDeviceCount());
    }

    /// <summary>CUDA devices usable by TorchSharp here (0 with a CPU libtorch). The first TorchSharp
    /// call of a process: where libtorch cannot be loaded, the error names the package to add.</summary>
    public static int CudaDeviceCount()
    {
        TorchNativeLoader.EnsureLoaded();
        try { return torch.cuda.is_available() ? torch.cuda.device_count() : 0; }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException or NotSupportedException or EntryPointNotFoundException)
        {
            throw new DllNotFoundException(TorchNativeLoader.MissingBackend(e), e);
        }
    }

    /// <summary>Resolves against a given number of CUDA devices (the testable core).</summary>
    public static ResolvedDevice Resolve(string? spec, int? gpuDeviceId, bool fallbackToCpu, int cudaDeviceCount)
    {
        string s = (spec ?? "auto").Trim().ToLowerInvariant();
        if (gpuDeviceId is < 0) throw new ArgumentOutOfRangeException(nameof(gpuDeviceId), gpuDeviceId, "GPU device id must be 0 or more");
        switch (s)
        {
            case "" or "auto":
                {
                    int index = gpuDeviceId ?? 0;
                    if (cudaDeviceCount > index) return new(DeviceType.CUDA, index, "auto: CUDA is available");
                    return new(DeviceType.CPU, 0, cudaDeviceCount == 0 ? "auto: no CUDA device, using the CPU" : $"auto: CUDA device {index} does not exist ({cudaDeviceCount} present), using the CPU");
                }
            case "cpu":
                return new(DeviceType.CPU, 0, "cpu requested");
            case "cuda" or "gpu":
                return RequireCuda(gpuDeviceId ?? 0, $"'{spec}' requested", fallbackToCpu, cudaDeviceCount);
        }
        if (s.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(s.AsSpan(5), out int n) && n >= 0)
            return RequireCuda(n, $"'{spec}' requested", fallbackToCpu, cudaDeviceCount);
        throw new ArgumentException($"device '{spec}' is not one of: auto, cpu, cuda, cuda:N", nameof(spec));
    }

    static ResolvedDevice RequireCuda(int index, string why, bool fallbackToCpu, int count)
    {
        if (count > index) return new(DeviceType.CUDA, index, why);
        string problem = count == 0
            ? "TorchSharp sees no CUDA device in this process (a CPU-only libtorch is loaded, or no NVIDIA driver)"
            : $"only {count} CUDA device(s) exist, so cuda:{index} does not";
        if (fallbackToCpu) return new(DeviceType.CPU, 0, $"{why} but {problem}; falling back to the CPU as FallbackToCpu allows");
        throw new InvalidOperationException(
            $"CUDA was requested ({why.Split(' ')[0]}, device cuda:{index}) but {problem}. " +
            $"To run on a GPU, reference the TorchSharp CUDA package for your platform (TorchSharp-cuda-windows or TorchSharp-cuda-linux) " +
            $"instead of libtorch-cpu, or load an installed PyTorch's CUDA libtorch; see {GpuDocs}. " +
            "Otherwise use device 'auto' or 'cpu', or set MLContext.FallbackToCpu = true.");
    }
}
