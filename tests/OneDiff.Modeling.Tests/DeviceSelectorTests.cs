using OneDiff.Modeling.Runtime;
using TorchSharp;
using Xunit;

namespace OneDiff.Modeling.Tests;

public class DeviceSelectorTests
{
    [Theory]
    [InlineData("auto", null, 0, "cpu")]
    [InlineData(null, null, 1, "cuda:0")]
    [InlineData("auto", 1, 2, "cuda:1")]
    [InlineData("auto", 3, 2, "cpu")]
    [InlineData("cpu", 1, 2, "cpu")]
    [InlineData("cuda", null, 1, "cuda:0")]
    [InlineData("cuda", 1, 2, "cuda:1")]
    [InlineData("CUDA:1", null, 2, "cuda:1")]
    public void ResolvesEachSpelling(string? spec, int? gpuId, int count, string expected)
    {
        Assert.Equal(expected, DeviceSelector.Resolve(spec, gpuId, fallbackToCpu: false, cudaDeviceCount: count).Name);
    }

    [Fact]
    public void CudaWithoutCudaFailsWithHowToGetIt()
    {
        var e = Assert.Throws<InvalidOperationException>(() => DeviceSelector.Resolve("cuda", null, false, 0));
        Assert.Contains("docs/gpu.md", e.Message);
        Assert.Contains("TorchSharp-cuda", e.Message);
        Assert.Contains("FallbackToCpu", e.Message);
        var missing = Assert.Throws<InvalidOperationException>(() => DeviceSelector.Resolve("cuda:2", null, false, 1));
        Assert.Contains("cuda:2", missing.Message);
    }

    [Fact]
    public void FallbackToCpuTurnsTheFailureIntoTheCpu()
    {
        var d = DeviceSelector.Resolve("cuda:0", null, fallbackToCpu: true, cudaDeviceCount: 0);
        Assert.Equal("cpu", d.Name);
        Assert.Contains("FallbackToCpu", d.Reason);
    }

    [Fact]
    public void UnknownSpellingIsAnError()
    {
        var e = Assert.Throws<ArgumentException>(() => DeviceSelector.Resolve("tpu", null, false, 0));
        Assert.Contains("tpu", e.Message);
    }

    [Fact]
    public void AutoOnThisMachineMatchesWhatTorchSees()
    {
        var d = DeviceSelector.Resolve("auto");
        Assert.Equal(DeviceSelector.CudaDeviceCount() > 0, d.IsCuda);
    }
}
