from trimformer.recipe.load import LoadedRecipe, RecipeError, builtin_recipes, load_recipe, validate
from trimformer.recipe.schema import Recipe

__all__ = ["LoadedRecipe", "Recipe", "RecipeError", "builtin_recipes", "load_recipe", "validate"]
