using OneDiff.Modeling.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

public class HostToDeviceTests
{
    [Fact]
    public void ImagesArriveInOrderInTheAskedDtype()
    {
        TorchNativeLoader.EnsureLoaded();
        float[] first = Enumerable.Range(0, 12).Select(i => (float)i).ToArray();
        float[] second = Enumerable.Range(100, 12).Select(i => (float)i).ToArray();
        using var batch = HostToDevice.Images([first, second], 2, ScalarType.Float64, torch.CPU);
        Assert.Equal(new long[] { 2, 3, 2, 2 }, batch.shape);
        Assert.Equal(ScalarType.Float64, batch.dtype);
        Assert.Equal(first.Concat(second).Select(x => (double)x), batch.data<double>().ToArray());
    }

    [Fact]
    public void AnImageOfTheWrongSizeIsNamedByItsPlaceInTheBatch()
    {
        TorchNativeLoader.EnsureLoaded();
        var e = Assert.Throws<ArgumentException>(() => HostToDevice.Images([new float[12], new float[11]], 2, ScalarType.Float32, torch.CPU));
        Assert.Contains("image 1 of the batch has 11 values", e.Message);
        Assert.Contains("(3, 2, 2) = 12", e.Message);
    }

    [Fact]
    public void IdsArriveUnchanged()
    {
        TorchNativeLoader.EnsureLoaded();
        using var ids = HostToDevice.Upload([5L, 0L, 31999L], torch.CPU);
        Assert.Equal(new long[] { 5, 0, 31999 }, ids.data<long>().ToArray());
    }
}
