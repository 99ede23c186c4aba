using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Runtime;

/// <summary>
/// Host data onto the device without waiting for it. A copy from ordinary (pageable) host memory to
/// CUDA synchronises the stream, so every small upload would stall the host until the GPU had
/// finished its queue; from pinned memory the copy is queued like a kernel (libtorch keeps the
/// pinned block until the copy has run).
/// </summary>
public static class HostToDevice
{
    /// <summary>A device copy of <paramref name="host"/> (a CPU tensor); the same tensor moved
    /// plainly where the device is not CUDA.</summary>
    public static Tensor Upload(Tensor host, Device device)
    {
        if (device.type != DeviceType.CUDA) return host.to(device);
        using var pinned = host.pin_memory();
        return pinned.to(device, non_blocking: true);
    }

    public static Tensor Upload(long[] values, Device device)
    {
        using var host = torch.tensor(values);
        return Upload(host, device);
    }
}
