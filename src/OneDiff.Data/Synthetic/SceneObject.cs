namespace OneDiff.Data.Synthetic;

public enum ShapeKind { Circle, Square, Triangle }

/// <summary>One shape of a scene: what it is and where (centre in pixels, radius-like size).</summary>
public sealed record SceneObject(ShapeKind Shape, string Color, bool Large, int X, int Y)
{
    public string Name => $"{Color} {Shape.ToString().ToLowerInvariant()}";
    public int Radius(int canvas) => (int)(canvas * (Large ? 0.11 : 0.065));
}

/// <summary>A rendered scene's description: background, global shift and brightness, objects.</summary>
public sealed record Scene(int Size, IReadOnlyList<SceneObject> Objects, bool Textured, int ShiftX = 0, int ShiftY = 0, int Brightness = 0);

/// <summary>What differs between the two scenes of a pair.</summary>
public enum ChangeType { None, Add, Remove, Move, Recolour, Resize, Swap, Multiple }
