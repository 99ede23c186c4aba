using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Runtime;

/// <summary>Module construction straight on a device in a dtype.</summary>
public static class BuildOn
{
    /// <summary>Runs <paramref name="build"/> with TorchSharp's default device and dtype set, so a
    /// large model's parameters are created where they will live (a 7B model never exists as a CPU
    /// fp32 copy first); the defaults are restored afterwards.</summary>
    public static T Device<T>(torch.Device device, ScalarType dtype, Func<T> build)
    {
        TorchNativeLoader.EnsureLoaded();
        var previousType = torch.get_default_dtype();
        torch.set_default_device(device);
        torch.set_default_dtype(dtype);
        try { return build(); }
        finally { torch.set_default_device(torch.CPU); torch.set_default_dtype(previousType); }
    }
}
