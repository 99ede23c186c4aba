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

    /// <summary>A (N, 3, side, side) batch of preprocessed images on the device, in
    /// <paramref name="dtype"/> (converted there).</summary>
    public static Tensor Images(IReadOnlyList<float[]> images, int side, ScalarType dtype, Device device)
    {
        int size = 3 * side * side;
        var flat = new float[images.Count * size];
        for (int i = 0; i < images.Count; i++)
        {
            if (images[i].Length != size) throw new ArgumentException($"image {i} of the batch has {images[i].Length} values; the model takes (3, {side}, {side}) = {size}");
            Array.Copy(images[i], 0, flat, i * size, size);
        }
        using var host = torch.tensor(flat, [images.Count, 3, side, side]);
        using var onDevice = Upload(host, device);
        return onDevice.to(dtype);
    }

    public static Tensor Upload(long[] values, Device device)
    {
        using var host = torch.tensor(values);
        return Upload(host, device);
    }
}
