"""The actions service: plan d'actions, suivis trimestriels, indicateurs, bilans."""
