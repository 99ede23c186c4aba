using OneDiff.Modeling.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

public class TorchRuntimeTests
{
    [Fact]
    public void ForwardAndBackwardRunOnTheCpu()
    {
        TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(1);
        using var layer = nn.Linear(8, 4);
        using var x = torch.randn(16, 8);
        using var target = torch.randn(16, 4);
        using var optimizer = optim.AdamW(layer.parameters(), lr: 0.05);
        float first = 0, last = 0;
        for (int step = 0; step < 20; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.mse_loss(layer.forward(x), target);
            loss.backward();
            optimizer.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        Assert.True(layer.weight!.grad is not null, "backward produced no gradient");
        Assert.True(last < first * 0.9, $"loss did not fall: {first} -> {last}");
    }

    [Fact]
    public void Bf16MatmulAndAttentionRunOnTheCpu()
    {
        TorchNativeLoader.EnsureLoaded();
        using var scope = torch.NewDisposeScope();
        var q = torch.randn(1, 2, 5, 8, dtype: ScalarType.BFloat16);
        var o = nn.functional.scaled_dot_product_attention(q, q, q, is_casual: true);
        Assert.Equal(ScalarType.BFloat16, o.dtype);
        Assert.Equal(new long[] { 1, 2, 5, 8 }, o.shape);
    }

    [Fact]
    public void OnLinuxTheLoaderExplainsWhatItDid()
    {
        TorchNativeLoader.EnsureLoaded();
        _ = torch.zeros(1);
        if (!OperatingSystem.IsLinux()) return;
        Assert.False(string.IsNullOrWhiteSpace(TorchNativeLoader.Trace));
        if (TorchNativeLoader.PatchedLibraryPath is { } patched)
        {
            // The copy that was loaded carries the weak flag; a second patch finds nothing left to change.
            Assert.Equal(0, ElfVersionPatcher.MarkVersionWeak(File.ReadAllBytes(patched), TorchNativeLoader.MissingVersion));
        }
    }
}
