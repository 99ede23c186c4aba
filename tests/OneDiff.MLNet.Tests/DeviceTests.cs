using Microsoft.ML;
using OneDiff.MLNet;
using Xunit;

namespace OneDiff.MLNet.Tests;

public class DeviceTests
{
    [Fact]
    public void AutoUsesTheCpuHereAndSaysSoInTheLog()
    {
        var ml = new MLContext(seed: 1);
        var messages = new List<string>();
        ml.Log += (_, e) => messages.Add(e.Message);
        var device = ml.DiffCaptioning().ResolveDevice("auto");
        Assert.Equal(OneDiff.Modeling.Runtime.DeviceSelector.CudaDeviceCount() > 0, device.IsCuda);
        Assert.Contains(messages, m => m.Contains("OneDiff device: " + device.Name));
    }

    [Fact]
    public void CudaHonoursFallbackToCpu()
    {
        if (OneDiff.Modeling.Runtime.DeviceSelector.CudaDeviceCount() > 0) Assert.Skip("this test is about a machine without CUDA");
        var strict = new MLContext { GpuDeviceId = 0, FallbackToCpu = false };
        var e = Assert.Throws<InvalidOperationException>(() => strict.DiffCaptioning().ResolveDevice("cuda"));
        Assert.Contains("docs/gpu.md", e.Message);
        var lenient = new MLContext { GpuDeviceId = 0, FallbackToCpu = true };
        Assert.Equal("cpu", lenient.DiffCaptioning().ResolveDevice("cuda").Name);
    }
}
