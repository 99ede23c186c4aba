using OneDiff.Modeling.Runtime;
using TorchSharp;
using Xunit;
public class Smoke {
  [Fact] public void ForwardBackward() {
    TorchNativeLoader.EnsureLoaded();
    System.Console.WriteLine(TorchNativeLoader.Trace);
    var x = torch.randn(4, 3, requires_grad: true);
    var y = (x * x).sum(); y.backward();
    Assert.True(x.grad is not null);
  }
}
